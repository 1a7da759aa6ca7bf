"""LangGraph's checkpoint serializer, with an unchanged message encoded and decoded once.

Every checkpoint holds a thread's whole history: LangGraph's
``JsonPlusSerializer`` encodes every message into each of a turn's
checkpoints and rebuilds every message (pydantic validation) on every read,
so a turn costs as much as the history is long. ``MessageMemo`` remembers,
for each message it encoded or decoded, LangGraph's bytes for it and a deep
copy of its fields as they were then. The same object encoded again, or the
same bytes decoded again, while the message's fields still equal that copy,
takes the remembered bytes or object. The bytes written are LangGraph's, to
the byte (docs/adr/0009-hostile-input.md, "Growth per turn").

Sound because it checks, every time: a message changed in place
(``msg.content = ...``, ``msg.tool_calls.append(...)``, an extra attribute)
no longer equals its copy and is encoded, or decoded, anew. The copy is
pydantic's ``model_dump``, which copies containers and turns models and
dataclasses into dicts (a message holding one is not remembered: it would
not equal its copy). What a scope remembers — one LangGraph thread and checkpoint
namespace — is shared by that thread's readers only, as the objects LangGraph
holds in its channels are; the memo is bounded in scopes and bytes.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ormsgpack
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.serde import jsonplus
from langgraph.checkpoint.serde.jsonplus import EXT_PYDANTIC_V2, JsonPlusSerializer

SCOPES = 256
"""Threads (and namespaces) whose messages are remembered."""
MEMO_BYTES = 64 * 1024 * 1024
"""Encoded messages the memo holds at most, with their copies (about 3× the bytes)."""
_GENERATIONS = 8
"""A scope forgets what its last uses (one per checkpoint or write read or
put, ~7 per turn) did not touch."""


@dataclass(slots=True)
class _Known:
    message: BaseMessage
    fields: dict[str, Any]
    """A deep copy of the message's fields when ``data`` was made."""
    data: bytes
    """The message as LangGraph encodes it (an ``EXT_PYDANTIC_V2`` payload)."""
    packed: ormsgpack.Fragment
    """The whole extension, to be spliced into a checkpoint as it is."""

    def unchanged(self) -> bool:
        return not self.message.__pydantic_extra__ and vars(self.message) == self.fields


def _known(message: BaseMessage, fields: dict[str, Any], data: bytes) -> _Known | None:
    """What to remember of ``message``, if its copy equals it (see the module)."""
    if message.__pydantic_extra__ or fields != vars(message):
        return None
    return _Known(message, fields, data, _fragment(data))


class _Scope:
    """What one thread's checkpoints encoded and decoded lately, in two generations."""

    __slots__ = ("by_bytes", "by_id", "old_by_bytes", "old_by_id", "old_size", "size", "uses")

    def __init__(self) -> None:
        self.by_id: dict[int, _Known] = {}
        self.by_bytes: dict[bytes, _Known] = {}
        self.old_by_id: dict[int, _Known] = {}
        self.old_by_bytes: dict[bytes, _Known] = {}
        self.size = self.old_size = self.uses = 0

    @property
    def held(self) -> int:
        return 3 * (self.size + self.old_size)

    def encoded(self, message: BaseMessage) -> ormsgpack.Fragment:
        """``message`` as LangGraph encodes it."""
        known = self.by_id.get(id(message)) or self.old_by_id.get(id(message))
        if known is not None and known.message is message and known.unchanged():
            self._keep(known)
            return known.packed
        # LangGraph's encoding of a pydantic model (``jsonplus._msgpack_default``),
        # the model dumped once, for the bytes and for the copy.
        fields = message.model_dump()
        cls = type(message)
        data = jsonplus._msgpack_enc((cls.__module__, cls.__name__, fields, "model_validate_json"))
        known = _known(message, fields, data)
        if known is None:
            return _fragment(data)
        self._keep(known)
        return known.packed

    def decoded(self, data: bytes, decode: Callable[[int, bytes], Any]) -> Any:
        """What LangGraph's ``decode`` makes of a pydantic model's ``data``."""
        known = self.by_bytes.get(data) or self.old_by_bytes.get(data)
        if known is not None and known.unchanged():
            self._keep(known)
            return known.message
        value = decode(EXT_PYDANTIC_V2, data)
        if isinstance(value, BaseMessage):
            known = _known(value, value.model_dump(), data)
            if known is not None:
                self._keep(known)
        return value

    def _keep(self, known: _Known) -> None:
        if self.by_id.get(id(known.message)) is not known:
            self.size += len(known.data)
        self.by_id[id(known.message)] = known
        self.by_bytes[known.data] = known

    def used(self) -> None:
        self.uses += 1
        if self.uses % _GENERATIONS == 0:
            self.old_by_id, self.by_id = self.by_id, {}
            self.old_by_bytes, self.by_bytes = self.by_bytes, {}
            self.old_size, self.size = self.size, 0


class MessageMemo(JsonPlusSerializer):
    """``JsonPlusSerializer`` that encodes and decodes an unchanged message once,
    within a ``scope``; outside one it is LangGraph's serializer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._scopes: collections.OrderedDict[tuple[str, str], _Scope] = collections.OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def scope(self, thread_id: str, ns: str) -> Iterator[None]:
        """What this OS thread encodes and decodes meanwhile belongs to this
        LangGraph thread and checkpoint namespace."""
        key = (thread_id, ns)
        with self._lock:
            found = self._scopes.pop(key, None) or _Scope()
            self._scopes[key] = found
            before = found.held
        self._local.scope = found
        try:
            yield
        finally:
            self._local.scope = None
            found.used()
            with self._lock:
                self._held += found.held - before
                while self._scopes and (len(self._scopes) > SCOPES or self._held > MEMO_BYTES):
                    _, oldest = self._scopes.popitem(last=False)
                    self._held -= oldest.held

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        scope: _Scope | None = getattr(self._local, "scope", None)
        if scope is None or not isinstance(obj, list | dict):
            return super().dumps_typed(obj)
        if isinstance(obj, list):  # a write
            obj = _spliced(scope, obj)
        elif isinstance(obj.get("channel_values"), dict):  # a checkpoint
            values = {k: _spliced(scope, v) for k, v in obj["channel_values"].items()}
            obj = {**obj, "channel_values": values}
        return "msgpack", ormsgpack.packb(
            obj, default=jsonplus._msgpack_default, option=jsonplus._option
        )

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        scope: _Scope | None = getattr(self._local, "scope", None)
        if scope is None or data[0] != "msgpack":
            return super().loads_typed(data)
        decode = self._unpack_ext_hook

        def ext_hook(code: int, payload: bytes) -> Any:
            if code == EXT_PYDANTIC_V2:
                return scope.decoded(payload, decode)
            return decode(code, payload)

        return ormsgpack.unpackb(data[1], ext_hook=ext_hook, option=ormsgpack.OPT_NON_STR_KEYS)


def _spliced(scope: _Scope, value: Any) -> Any:
    """A list of messages with each message's bytes in place; else ``value``."""
    if not isinstance(value, list) or not all(isinstance(m, BaseMessage) for m in value):
        return value
    return [scope.encoded(message) for message in value]


def _fragment(data: bytes) -> ormsgpack.Fragment:
    return ormsgpack.Fragment(ormsgpack.packb(ormsgpack.Ext(EXT_PYDANTIC_V2, data)))
