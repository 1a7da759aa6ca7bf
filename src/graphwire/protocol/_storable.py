"""What a checkpoint can store of a client's JSON: its serializer (msgpack)
holds integers as int64 or uint64 only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

INT_RANGE: Final = range(-(2**63), 2**64)


def int_beyond_64_bits(value: Any) -> int | None:
    """The first integer in ``value`` (JSON: dicts, lists, scalars) that no
    checkpoint can store, or ``None``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and item not in INT_RANGE:
            return item
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None
