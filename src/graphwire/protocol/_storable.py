"""What a checkpoint can store of a client's JSON and give back as JSON: its
serializer (msgpack) holds integers as int64 or uint64 only, and JSON has no
NaN or infinity (which pydantic reads from ``NaN``, ``Infinity`` and ``1e999``:
a thread holding one could not be sent to a client again)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

INT_RANGE: Final = range(-(2**63), 2**64)


def unstorable(value: Any) -> str | None:
    """What in ``value`` (JSON: dicts, lists, scalars) no checkpoint can store
    and give back as JSON, said for an error message; ``None`` if nothing."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and item not in INT_RANGE:
            return f"an integer beyond 64 bits: {item}"
        if isinstance(item, float) and not math.isfinite(item):
            return f"a number JSON does not have: {item}"
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None
