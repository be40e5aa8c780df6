"""Airflow's execution API, built for the versions the installed task SDK needs.

Airflow builds its execution API with Cadwyn, which generates routers for every API version
back to the first as the API answers its first request: four to nine CPU-seconds in each
process that serves it, one of the suite's largest single costs. The task SDK installed beside
it sends only the newest version, so the suite builds that one, the older ones Cadwyn needs to
restore the routes that exist only in them, and the version below those, without changes
(Cadwyn wants the oldest so), as the floor. Where: ``dag.test()``'s in-process API in the
xdist workers (``tests/integration/dagfiles.py``) and every process of a shared end-to-end
stack (``AirflowStack(trim_execution_api=True)``: its fork server, which finds this module on
its path, calls it before any fork). The production topology's stack and ``make demo`` serve
every version, as a deployment does.
"""

from __future__ import annotations

import warnings
from functools import cache


@cache
def trim_execution_api_versions() -> bool:
    """Give the execution API a version bundle cut down to what the task SDK needs.

    The newest version is served as by the full bundle: Cadwyn builds each version's routes
    from the newer ones only. An older version is answered as the floor's, or not at all.
    Changes nothing, warns and returns ``False`` when the task SDK speaks another version than
    the newest one the server knows, or when there is nothing to cut.
    """
    from airflow.api_fastapi.execution_api import versions
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from cadwyn import HeadVersion, Version, VersionBundle
    from cadwyn.structure.endpoints import EndpointExistedInstruction

    full = versions.bundle
    dated = list(full.versions)
    # A route marked as existing only in older versions must be restored by a version kept.
    restoring = [
        index
        for index, version in enumerate(dated)
        for change in version.changes
        for instruction in change.alter_endpoint_instructions
        if isinstance(instruction, EndpointExistedInstruction)
    ]
    keep = dated[: max(restoring, default=0) + 1]
    if dated[0].value != API_VERSION or len(keep) + 1 >= len(dated):
        warnings.warn(
            f"execution API versions not trimmed (task SDK {API_VERSION}, server "
            f"{[version.value for version in dated]}): every version is built",
            stacklevel=2,
        )
        return False
    for version in dated:  # a change may belong to one bundle only
        for change in version.changes:
            change._bound_version_bundle = None
    versions.bundle = VersionBundle(
        HeadVersion(*full.head_version.changes),
        *(Version(version.value, *version.changes) for version in keep),
        Version(dated[len(keep)].value),
    )
    return True
