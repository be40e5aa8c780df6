"""The API model's maximums and patterns, which botocore's own validation does not check.

botocore validates types, required fields and minimums; the maximums (``HyperParameters``
entries, value lengths, list lengths, numeric ranges) and patterns in the same model are left
to AWS, which rejects the request only once it is sent. This walks the request along its
input shape and reports each breach, naming the field as botocore does.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

_NUMBER_TYPES = ("integer", "long", "float", "double")
#: How much of an offending value a message quotes; a value can be megabytes long.
_QUOTED = 60


def violations(value: Any, shape: Shape, name: str = "") -> list[str]:
    """Every breach of the model's maximums and patterns in ``value``, in document order.

    Only what botocore's ``ParamValidator`` leaves out is checked; run that first, since a
    value of the wrong type is skipped here. ``name`` is the field path of ``value``.
    """
    found: list[str] = []
    _walk(value, shape, name, found)
    return found


def _walk(value: Any, shape: Shape, name: str, found: list[str]) -> None:
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for key, member in value.items():
            if key in shape.members:
                _walk(member, shape.members[key], f"{name}.{key}" if name else key, found)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        _check_length(len(value), shape, name, found)
        for index, item in enumerate(value):
            _walk(item, shape.member, f"{name}[{index}]", found)
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        _check_length(len(value), shape, name, found)
        for key, item in value.items():
            # Values are named name.key, as botocore does; the message quotes a bad key.
            _walk(key, shape.key, f"{name} key", found)
            _walk(item, shape.value, f"{name}.{key}", found)
    elif shape.type_name == "string" and isinstance(value, str):
        _check_length(len(value), shape, name, found)
        _check_pattern(value, shape, name, found)
    elif shape.type_name in _NUMBER_TYPES and _is_number(value):
        maximum = shape.metadata.get("max")
        if maximum is not None and value > maximum:
            found.append(
                f"Invalid value for parameter {name}, value: {value}, valid max value: {maximum}"
            )


def _check_length(length: int, shape: Shape, name: str, found: list[str]) -> None:
    maximum = shape.metadata.get("max")
    if maximum is not None and length > maximum:
        found.append(
            f"Invalid length for parameter {name}, value: {length}, valid max length: {maximum}"
        )


def _check_pattern(value: str, shape: Shape, name: str, found: list[str]) -> None:
    pattern = shape.metadata.get("pattern")
    compiled = _compiled(pattern) if pattern else None
    if compiled is not None and not compiled.fullmatch(value):
        found.append(
            f"Invalid value for parameter {name}, value: {_quote(value)}, "
            f"must match the pattern: {pattern}"
        )


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    """The model's pattern as a Python regex; ``None`` when Python cannot read it.

    AWS matches the whole value (the model stores patterns without anchors). DOTALL because
    where Java's and Python's dialects differ, an offline check must lean to accepting: AWS
    has the last word. Unicode classes such as ``\\p{L}`` (tag keys and values) are not
    Python syntax, so those patterns are skipped rather than guessed at.
    """
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _quote(value: str) -> str:
    if len(value) <= _QUOTED:
        return repr(value)
    return f"{value[:_QUOTED]!r}... ({len(value)} characters)"
