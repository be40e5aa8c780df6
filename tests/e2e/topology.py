"""Which Airflow deployment an :class:`~tests.e2e.stack.AirflowStack` runs as.

``embedded``: what ``airflow standalone`` gives (SQLite, one scheduler, one triggerer).
``ha``: production's shape: PostgreSQL, two schedulers, two triggerers, and health checks
short enough that a triggerer's death is noticed in seconds rather than minutes.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.postgres import PostgresCluster
from tests.e2e.stack import StackError

#: ``[triggerer]`` settings of the ``ha`` topology. A triggerer counts as dead once its
#: heartbeat is older than the threshold; the survivors then take its triggers over (Airflow's
#: ``Trigger.assign_unassigned``). Defaults are 5 s and 30 s; the heartbeat must stay well
#: under the threshold, or a busy but alive triggerer loses its triggers to the others.
TRIGGERER_HEARTBEAT = 2
TRIGGERER_HEALTH_CHECK_THRESHOLD = 10
HA_SETTINGS = {
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": str(TRIGGERER_HEARTBEAT),
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_CHECK_THRESHOLD),
}


class Topology:
    """The embedded default; a context manager for what the deployment needs besides Airflow."""

    name = "embedded"
    description = "SQLite, one scheduler, one triggerer"

    def start(self) -> None:
        """Start what Airflow needs first (nothing here)."""

    def stop(self) -> None:
        """Stop it again; safe to call when :meth:`start` failed or never ran."""

    def stack_options(self, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        """Keyword arguments for :class:`~tests.e2e.stack.AirflowStack`."""
        return {"extra_env": dict(extra_env or {})}

    def __enter__(self) -> Topology:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProductionTopology(Topology):
    """PostgreSQL in a private cluster, two schedulers and two triggerers.

    :param schedulers: ``airflow scheduler`` processes.
    :param triggerers: ``airflow triggerer`` processes the stack starts by itself (a test
        that must tell them apart starts them one by one instead).
    """

    name = "ha"

    def __init__(self, schedulers: int = 2, triggerers: int = 2) -> None:
        self.schedulers = schedulers
        self.triggerers = triggerers
        self.cluster: PostgresCluster | None = None
        self.description = f"PostgreSQL, {schedulers} schedulers, {triggerers} triggerers"

    @property
    def database(self) -> PostgresCluster:
        if self.cluster is None:
            raise RuntimeError("the production topology is not started")
        return self.cluster

    def start(self) -> None:
        # Raises PostgresMissing, naming what to install, before anything is started.
        self.cluster = PostgresCluster()
        self.cluster.start()
        self.description = (
            f"PostgreSQL on 127.0.0.1:{self.cluster.port} ({self.cluster.folder}), "
            f"{self.schedulers} schedulers, {self.triggerers} triggerers"
        )

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()

    def stack_options(self, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        env = {**self.database.airflow_env(), **HA_SETTINGS, **(extra_env or {})}
        return {"extra_env": env, "schedulers": self.schedulers, "triggerers": self.triggerers}


def topology_named(name: str) -> Topology:
    """``""``/``"embedded"`` or ``"ha"`` (``make demo TOPOLOGY=ha``); :class:`StackError`
    for anything else, so ``make demo`` reports it like any other failure."""
    topologies: dict[str, type[Topology]] = {"": Topology, "embedded": Topology}
    topologies["ha"] = ProductionTopology
    try:
        return topologies[name.strip().lower()]()
    except KeyError:
        raise StackError(f"unknown topology {name!r}: use 'embedded' or 'ha'") from None
