"""LangGraph's checkpoint serializer, with an unchanged message encoded and decoded once.

Every checkpoint holds a thread's whole history: LangGraph's
``JsonPlusSerializer`` encodes every message into each of a turn's
checkpoints and rebuilds every message (pydantic validation) on every read,
so a turn costs as much as the history is long. ``MessageMemo`` remembers,
for each message it encoded or decoded, LangGraph's bytes for it and a deep
copy of its fields as they were then (``model_dump``). The same object
encoded again, or the same bytes decoded again, while the message's fields
still equal that copy, takes the remembered bytes or object. What is written
is LangGraph's encoding, to the byte; what a read gets is what LangGraph's
decoding of those bytes made (validated, within its allowlist), never a
writer's own object (docs/adr/0009-hostile-input.md, "Growth per turn").

It checks every time: a message changed in place (``msg.content = ...``,
``msg.tool_calls.append(...)``, an extra attribute) no longer equals its copy
and is encoded, or decoded, anew. Only messages holding JSON data of exactly
str, int, float, bool, None, list and dict are remembered, so equality is
their value. Not seen: a number changed in place into an equal one of
another type (``1`` into ``True`` or ``1.0``), or a dict's keys reordered.
The reads of one thread (and checkpoint namespace: a ``scope``) share the
decoded objects, as a run's nodes share them within a run: a graph that
changes a message in place, against LangGraph's advice, changes it for an
earlier read's holder too (what it stores is what LangGraph would store).
The memo is bounded in scopes and bytes.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import ormsgpack
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde import jsonplus
from langgraph.checkpoint.serde.jsonplus import EXT_PYDANTIC_V2, JsonPlusSerializer

SCOPES = 256
"""Threads (and namespaces) whose messages are remembered."""
MEMO_BYTES = 64 * 1024 * 1024
"""Memory the remembered messages may take (``_Known.cost``)."""
_CURRENT: ContextVar[_Scope | None] = ContextVar("graphwire_message_memo", default=None)
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
    decoded: bool
    """Made by LangGraph's decoding of ``data``: what a read of ``data`` may get."""

    @property
    def cost(self) -> int:
        """Memory it holds: the message, its copy, its bytes twice. Measured
        (tracemalloc): ~2.8 kB for a message of 200 encoded bytes."""
        return 3 * len(self.data) + 2_200

    def unchanged(self) -> bool:
        return not self.message.__pydantic_extra__ and vars(self.message) == self.fields


def _known(
    message: BaseMessage, fields: dict[str, Any], data: bytes, *, decoded: bool
) -> _Known | None:
    """What to remember of ``message``, if its copy equals it and holds JSON data only."""
    if message.__pydantic_extra__ or fields != vars(message) or not _plain(fields):
        return None
    return _Known(message, fields, data, _fragment(data), decoded)


def _encoding(message: BaseMessage, fields: dict[str, Any]) -> bytes:
    """LangGraph's encoding of a pydantic model (``jsonplus._msgpack_default``),
    from its ``model_dump``."""
    cls = type(message)
    return jsonplus._msgpack_enc((cls.__module__, cls.__name__, fields, "model_validate_json"))


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
        return self.size + self.old_size

    def encoded(self, message: BaseMessage) -> ormsgpack.Fragment:
        """``message`` as LangGraph encodes it."""
        known = self.by_id.get(id(message)) or self.old_by_id.get(id(message))
        if known is not None and known.message is message and known.unchanged():
            self._keep(known)
            return known.packed
        fields = message.model_dump()  # once, for the bytes and for the copy
        data = _encoding(message, fields)
        known = _known(message, fields, data, decoded=False)
        if known is None:
            return _fragment(data)
        self._keep(known)
        return known.packed

    def decoded(self, data: bytes, decode: Callable[[int, bytes], Any]) -> Any:
        """What LangGraph's ``decode`` makes of a pydantic model's ``data``.
        Only what ``decode`` made is handed out again (validated, allowed): never
        a writer's own object. Remembered only if it encodes back to ``data``
        (not a message stored in an older shape)."""
        known = self.by_bytes.get(data) or self.old_by_bytes.get(data)
        if known is not None and known.unchanged():
            self._keep(known)
            return known.message
        value = decode(EXT_PYDANTIC_V2, data)
        if isinstance(value, BaseMessage):
            fields = value.model_dump()
            if _encoding(value, fields) == data:
                known = _known(value, fields, data, decoded=True)
                if known is not None:
                    self._keep(known)
        return value

    def _keep(self, known: _Known) -> None:
        key = id(known.message)
        if self.by_id.get(key) is not known:
            self.size += known.cost
            self.by_id[key] = known
            if known.decoded:
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
        self._lock = threading.Lock()

    @contextmanager
    def scope(self, config: RunnableConfig) -> Iterator[None]:
        """What is encoded and decoded meanwhile (in this context: this thread,
        this task, what it hands to ``asyncio.to_thread``) belongs to the
        LangGraph thread and checkpoint namespace of ``config``."""
        configurable = config["configurable"]
        key = (str(configurable["thread_id"]), str(configurable.get("checkpoint_ns", "")))
        with self._lock:
            found = self._scopes.pop(key, None) or _Scope()
            self._scopes[key] = found
        token = _CURRENT.set(found)
        try:
            yield
        finally:
            _CURRENT.reset(token)
            found.used()
            with self._lock:  # summed anew: scopes may be in use at once, or evicted
                held = sum(scope.held for scope in self._scopes.values())
                while self._scopes and (len(self._scopes) > SCOPES or held > MEMO_BYTES):
                    _, oldest = self._scopes.popitem(last=False)
                    held -= oldest.held

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        scope = _CURRENT.get()
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
        scope = _CURRENT.get()
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


def _plain(value: Any) -> bool:
    """Whether ``value`` is JSON data only, of exactly these types: its
    equality is its value (not so a ``bytearray`` or a numpy array, which
    ``model_dump`` hands over as they are, or a str enum)."""
    kind = type(value)
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return kind in _SCALARS


_SCALARS = frozenset((str, int, float, bool, type(None)))
