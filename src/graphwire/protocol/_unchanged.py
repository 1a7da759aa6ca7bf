"""Whether a LangChain message was changed in place since a copy of it was taken.

Caches of what a message encodes or converts to (the checkpoint serializer's
``MessageMemo``, the MESSAGES_SNAPSHOT's ``SnapshotMemo``) keep with each
entry a deep copy of the message's fields — pydantic's ``model_dump``, which
copies containers and turns models and dataclasses into dicts — and trust
the entry while the message's fields still equal it. Equality tells only for
JSON data of exactly str, int, float, bool, None, list and dict: a
``bytearray`` or a numpy array, which ``model_dump`` hands over as they are,
would equal itself after any change (and a str enum is not its value), so a
message holding one is never trusted. Not seen: a number changed into an
equal one of another type (``1`` into ``True`` or ``1.0``), a dict's keys
reordered.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage


def comparable(message: BaseMessage, fields: dict[str, Any]) -> bool:
    """Whether ``fields``, ``message.model_dump()`` taken just now, will tell by
    equality whether the message changes."""
    return not message.__pydantic_extra__ and fields == vars(message) and _plain(fields)


def unchanged(message: BaseMessage, fields: dict[str, Any]) -> bool:
    """Whether ``message`` still equals ``fields``, its copy found ``comparable``."""
    return not message.__pydantic_extra__ and vars(message) == fields


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return kind in _SCALARS


_SCALARS = frozenset((str, int, float, bool, type(None)))
