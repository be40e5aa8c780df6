"""Tags that mark which task instance started a training job."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

TAG_PREFIX = "airflow:"
_IDENTITY_FIELDS = ("dag_id", "task_id", "run_id", "map_index")
# SageMaker tag values accept letters, digits, spaces and _.:/=+-@ up to 256 characters.
_UNSAFE = re.compile(r"[^\w .:/=+\-@]")


def identity_tags(ti: Any) -> dict[str, str]:
    """The tags identifying ``ti`` (a task instance), as ``{key: value}``."""
    return {
        f"{TAG_PREFIX}{name}": _UNSAFE.sub("_", str(getattr(ti, name)))[:256]
        for name in _IDENTITY_FIELDS
    }


def merge_tags(
    existing: Iterable[Mapping[str, str]], ours: Mapping[str, str]
) -> list[dict[str, str]]:
    """``existing`` request tags plus ours; ours replace any tag with the same key."""
    kept = [dict(t) for t in existing if t.get("Key") not in ours]
    return kept + [{"Key": k, "Value": v} for k, v in ours.items()]


def is_owned(tags: Iterable[Mapping[str, str]], identity: Mapping[str, str]) -> bool:
    """Whether a job's tags carry this task instance's identity."""
    found = {t.get("Key"): t.get("Value") for t in tags}
    return all(found.get(k) == v for k, v in identity.items())
