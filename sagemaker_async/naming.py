"""SageMaker training job names: validation and the candidates tried on a clash."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

MAX_NAME_LENGTH = 63
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
#: How many names we try before giving up; a real DAG never gets near this.
MAX_CANDIDATES = 1000

ACTION_FAIL = "fail"
ACTION_INCREMENT = "increment"
ACTION_SKIP = "skip"
ACTION_TIMESTAMP = "timestamp"
ACTIONS = (ACTION_FAIL, ACTION_INCREMENT, ACTION_SKIP, ACTION_TIMESTAMP)


class InvalidJobNameError(ValueError):
    """The configured ``TrainingJobName`` breaks SageMaker's naming rules."""


def validate_job_name(name: object) -> str:
    """Return ``name`` if SageMaker accepts it, else raise :class:`InvalidJobNameError`."""
    if not isinstance(name, str):
        raise InvalidJobNameError(f"TrainingJobName must be a string, got {type(name).__name__}")
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidJobNameError(
            f"TrainingJobName {name!r} is {len(name)} characters long; "
            f"SageMaker accepts 1 to {MAX_NAME_LENGTH}"
        )
    if not NAME_PATTERN.match(name):
        raise InvalidJobNameError(
            f"TrainingJobName {name!r} is invalid: use letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return name


def with_suffix(base: str, suffix: str) -> str:
    """Append ``-suffix``, truncating ``base`` so the result stays within 63 characters."""
    room = MAX_NAME_LENGTH - len(suffix) - 1
    # A truncated base may end in hyphens, which SageMaker rejects before the suffix's own.
    head = base[:room].rstrip("-")
    return f"{head}-{suffix}"


@dataclass(frozen=True)
class ExistingJob:
    """What a name look-up found: the job's status and whether this task instance owns it."""

    status: str
    owned: bool

    @property
    def running(self) -> bool:
        # A Stopping job is on its way out (a user stopped it, or a kill did): never re-attach.
        return self.status == "InProgress"


@dataclass(frozen=True)
class NameDecision:
    """The outcome of resolving a name: ``create`` it, ``attach`` to it, or ``skip``."""

    name: str
    action: Literal["create", "attach", "skip"]


class JobNameTakenError(Exception):
    """A job of another task holds the name and ``action_if_job_exists`` is ``fail``."""


Lookup = Callable[[str], "ExistingJob | None"]


def resolve_name(base: str, action: str, lookup: Lookup, now: int) -> NameDecision:
    """Pick the job name this try uses, following the ``action_if_job_exists`` rules.

    A job this task instance started on an earlier try is re-attached while it runs; once
    finished, the try moves on to the next free ``-N`` suffix. A job of someone else on the
    configured name is handled by ``action``.

    :param base: the configured job name, already valid.
    :param action: one of :data:`ACTIONS`.
    :param lookup: returns what holds a name, or ``None`` when it is free.
    :param now: epoch seconds, for the ``timestamp`` action.
    """
    found = lookup(base)
    if found is None:
        return NameDecision(base, "create")
    if found.owned and found.running:
        return NameDecision(base, "attach")
    root = base
    if not found.owned:
        if action == ACTION_FAIL:
            raise JobNameTakenError(
                f"A training job named {base!r} already exists and was not started by this "
                f"task (action_if_job_exists='fail'). Choose another TrainingJobName or set "
                f"action_if_job_exists to one of {', '.join(ACTIONS)}."
            )
        if action == ACTION_SKIP:
            return NameDecision(base, "skip")
        if action == ACTION_TIMESTAMP:
            root = with_suffix(base, str(now))
    for name in _series(base, root):
        found = lookup(name)
        if found is None:
            return NameDecision(name, "create")
        if found.owned and found.running:
            return NameDecision(name, "attach")
    raise JobNameTakenError(f"No free name found after {MAX_CANDIDATES} tries from {base!r}")


def _series(base: str, root: str) -> Iterator[str]:
    if root != base:
        yield root
    for n in range(1, MAX_CANDIDATES):
        yield with_suffix(root, str(n))
