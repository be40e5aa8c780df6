"""An execution API built for the one API version the installed task SDK speaks.

Airflow builds its execution API with Cadwyn, which generates routers for every API version
back to the first as the API answers its first request: some four to nine CPU-seconds in each
process that serves it, one of the suite's largest single costs. The task SDK installed beside
it sends only the newest version, so the suite builds that one, and the older versions Cadwyn
needs to restore the routes that exist only in them. Where: ``dag.test()``'s in-process API in
the xdist workers (``tests/integration/dagfiles.py``) and the api-servers of the shared
end-to-end stacks (``AirflowStack(newest_execution_api=True)``, through the fork server, which
finds this module on its path). The production topology's stack and ``make demo`` serve every
version, as a deployment does.
"""

from __future__ import annotations

from functools import cache
from itertools import chain


@cache
def serve_newest_version_only() -> bool:
    """Give the execution API a version bundle cut down to what the task SDK sends.

    Changes nothing, and returns ``False``, when the task SDK speaks another version than the
    newest one the server knows, or when there is nothing to cut.
    """
    from airflow.api_fastapi.execution_api import versions
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from cadwyn import HeadVersion, Version, VersionBundle
    from cadwyn.structure.endpoints import EndpointExistedInstruction

    full = versions.bundle
    dated = list(full.versions)
    if dated[0].value != API_VERSION:
        return False
    # A route marked as existing only in older versions must be restored by a version kept.
    restoring = [
        index
        for index, version in enumerate(dated)
        for change in version.changes
        for instruction in change.alter_endpoint_instructions
        if isinstance(instruction, EndpointExistedInstruction)
    ]
    keep = dated[: max(restoring, default=0) + 1]
    if len(keep) + 1 >= len(dated):
        return False
    changes = chain(full.head_version.changes, *(version.changes for version in dated))
    for change in changes:  # a change may belong to one bundle only
        change._bound_version_bundle = None
    versions.bundle = VersionBundle(
        HeadVersion(*full.head_version.changes),
        *(Version(version.value, *version.changes) for version in keep),
        Version(dated[-1].value),  # the oldest, without changes, as Cadwyn wants the first
    )
    return True
