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
and is encoded, or decoded, anew; what equality cannot tell is never
remembered (``protocol.unchanged``).
The reads of one thread (and checkpoint namespace: a ``scope``) share the
decoded objects, as a run's nodes share them within a run: a graph that
changes a message in place, against LangGraph's advice, changes it for an
earlier read's holder too (what it stores is what LangGraph would store).
The memo is bounded in scopes and bytes.

Given ``MessageRows`` (the SQLite file), a checkpoint stores each list of
messages by reference: the digests of the messages' LangGraph encodings, each
encoding stored once per thread as a row (``EXT_MESSAGES``). A turn then
writes its new messages and a few bytes per message it keeps, not the whole
history three times over; a turn's input checkpoint, which copies its parent
(the thread's last put) where a channel's version is unchanged, refers to
what that put did. Such a checkpoint's type is ``REFERENCED``, not
"msgpack": a reader that cannot resolve references (LangGraph's own saver,
an older graphwire) fails on it rather than read its messages as None.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, cast

import ormsgpack
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde import jsonplus
from langgraph.checkpoint.serde.jsonplus import EXT_PYDANTIC_V2, JsonPlusSerializer

from graphwire.protocol import StoreUnavailableError, comparable, unchanged

SCOPES = 256
"""Threads (and namespaces) whose messages are remembered."""
MEMO_BYTES = 64 * 1024 * 1024
"""Memory the remembered messages may take (``_Known.cost``)."""
_CURRENT: ContextVar[tuple[_Scope, bool, str | None] | None] = ContextVar(
    "graphwire_message_memo", default=None
)
"""The scope in use, whether what is dumped in it is a checkpoint, and the
checkpoint it copies its unchanged channels from (``MessageMemo.scope``)."""
_GENERATIONS = 8
"""A scope forgets what its last uses (one per checkpoint or write read or
put, ~7 per turn) did not touch."""
EXT_MESSAGES = 100
"""graphwire's msgpack extension: a list of messages by reference, the
concatenated digests (``DIGEST`` bytes each) of their ``EXT_PYDANTIC_V2``
payloads, which ``MessageRows`` holds."""
DIGEST = 16
REFERENCED = "msgpack+graphwire-messages"
"""The type of a checkpoint that holds ``EXT_MESSAGES``."""


class MessageRows(Protocol):
    """Where a checkpointer keeps each message's encoding once per thread."""

    def epoch(self, scope: tuple[str, str]) -> Hashable:
        """Changes whenever rows of ``scope`` stored before may be gone (a
        rollback, a sweep, a deleted thread, by any process): what was stored
        at another epoch is stored again (an insert that ignores a row already
        there). Read in the job that relies on it."""
        ...

    def fetch(self, scope: tuple[str, str], digests: Collection[bytes]) -> dict[bytes, bytes]:
        """The stored encodings of ``digests`` (those found) of ``scope``."""
        ...

    def store(self, scope: tuple[str, str], digest: bytes, data: bytes) -> None:
        """Keep ``data`` as ``digest`` for the thread and namespace ``scope``
        (in the running job: undone with it)."""
        ...


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
    digest: bytes
    stored: Hashable = None
    """The ``MessageRows.epoch`` at which ``data`` was last known stored."""

    @property
    def cost(self) -> int:
        """Memory it holds: the message, its copy, its bytes twice. Measured
        (tracemalloc): ~2.8 kB for a message of 200 encoded bytes."""
        return 3 * len(self.data) + 2_200

    def unchanged(self) -> bool:
        return unchanged(self.message, self.fields)


def _known(
    message: BaseMessage, fields: dict[str, Any], data: bytes, digest: bytes, *, decoded: bool
) -> _Known | None:
    """What to remember of ``message``, if its copy tells whether it changes."""
    if not comparable(message, fields):
        return None
    return _Known(message, fields, data, _fragment(data), decoded, digest)


def _encoding(message: BaseMessage, fields: dict[str, Any]) -> bytes:
    """LangGraph's encoding of a pydantic model (``jsonplus._msgpack_default``),
    from its ``model_dump``."""
    cls = type(message)
    return jsonplus._msgpack_enc((cls.__module__, cls.__name__, fields, "model_validate_json"))


@dataclass(frozen=True, slots=True)
class _Put:
    """A checkpoint being put by reference."""

    checkpoint_id: str
    versions: Mapping[str, Any]
    copied_from: str | None
    rows: MessageRows
    epoch: Hashable


class _Scope:
    """What one thread's checkpoints encoded and decoded lately, in two generations.
    An entry keeps its message alive: the message's ``id()`` is its own."""

    __slots__ = (
        "by_digest",
        "by_id",
        "channels",
        "key",
        "old_by_digest",
        "old_by_id",
        "old_size",
        "size",
        "uses",
    )

    def __init__(self, key: tuple[str, str]) -> None:
        """``key``: the thread and namespace."""
        self.key = key
        self.by_id: dict[int, _Known] = {}
        self.by_digest: dict[bytes, _Known] = {}
        self.old_by_id: dict[int, _Known] = {}
        self.old_by_digest: dict[bytes, _Known] = {}
        self.channels: dict[str, tuple[str, Any, Hashable, ormsgpack.Ext]] = {}
        """Each channel's list of messages in the last checkpoint put: the
        checkpoint's id, the channel's version, the epoch, the references."""
        self.size = self.old_size = self.uses = 0

    @property
    def held(self) -> int:
        return self.size + self.old_size

    def encoded(self, message: BaseMessage) -> ormsgpack.Fragment:
        """``message`` as LangGraph encodes it."""
        known, data = self._encode(message)
        return known.packed if known is not None else _fragment(data)

    def channel(self, name: str, messages: list[BaseMessage], put: _Put) -> ormsgpack.Ext:
        """Channel ``name``'s ``messages`` by reference, in checkpoint ``put``.
        A checkpoint that copies the last one put at the same epoch, the
        channel at the same version, refers to what that one did."""
        version = put.versions.get(name)
        last = self.channels.get(name)
        copied = (put.copied_from, version, put.epoch)
        if put.copied_from is not None and last is not None and last[:3] == copied:
            self.channels[name] = (put.checkpoint_id, *last[1:])
            return last[3]
        references = self.referenced(messages, put.rows, put.epoch)
        packed = ormsgpack.Ext(EXT_MESSAGES, references)
        self.channels[name] = (put.checkpoint_id, version, put.epoch, packed)
        return packed

    def referenced(self, messages: list[BaseMessage], rows: MessageRows, epoch: Hashable) -> bytes:
        """The digests of ``messages`` as LangGraph encodes them, their bytes in
        ``rows`` (at ``epoch``, this scope's)."""
        by_id = self.by_id
        digests = []
        for message in messages:
            known = by_id.get(id(message))  # the common case first: seen in this generation
            if known is not None and known.stored == epoch and known.unchanged():
                digests.append(known.digest)
                continue
            digests.append(self._stored(message, rows, epoch))
        return b"".join(digests)

    def _stored(self, message: BaseMessage, rows: MessageRows, epoch: Hashable) -> bytes:
        known, data = self._encode(message)
        if known is None:
            digest = _digest(data)
            rows.store(self.key, digest, data)
            return digest
        if known.stored != epoch:
            rows.store(self.key, known.digest, data)
            known.stored = epoch
        return known.digest

    def _encode(self, message: BaseMessage) -> tuple[_Known | None, bytes]:
        known = self.by_id.get(id(message)) or self.old_by_id.get(id(message))
        if known is not None and known.unchanged():
            self._keep(known)
            return known, known.data
        fields = message.model_dump()  # once, for the bytes and for the copy
        data = _encoding(message, fields)
        known = _known(message, fields, data, _digest(data), decoded=False)
        if known is not None:
            self._keep(known)
        return known, data

    def decoded(self, data: bytes, decode: Callable[[int, bytes], Any]) -> Any:
        """What LangGraph's ``decode`` makes of a pydantic model's ``data``.
        Only what ``decode`` made is handed out again (validated, allowed): never
        a writer's own object. Remembered only if it encodes back to ``data``
        (not a message stored in an older shape)."""
        digest = _digest(data)
        message = self._known_message(digest)
        return message if message is not None else self._decode(digest, data, decode, None)

    def resolved(
        self, payload: bytes, rows: MessageRows, decode: Callable[[int, bytes], Any]
    ) -> list[Any]:
        """The messages an ``EXT_MESSAGES`` payload refers to, as ``decoded``."""
        wanted = digests(payload)
        found: dict[bytes, Any] = {}
        for digest in wanted:  # the common case first: read in this generation
            known = self.by_digest.get(digest)
            if known is not None and known.unchanged():
                found[digest] = known.message
        for digest in wanted:
            if digest not in found:
                found[digest] = self._known_message(digest)
        missing = [digest for digest, message in found.items() if message is None]
        if missing:
            # The epoch first: a row found after it was read is gone only at a later one.
            epoch = rows.epoch(self.key)
            stored = rows.fetch(self.key, missing)
            if len(stored) < len(missing):
                raise StoreUnavailableError(
                    f"a checkpoint of thread {self.key[0]!r} refers to "
                    f"{len(missing) - len(stored)} "
                    "message(s) the database does not hold"
                )
            for digest in missing:
                found[digest] = self._decode(digest, stored[digest], decode, epoch)
        return [found[digest] for digest in wanted]

    def _known_message(self, digest: bytes) -> Any:
        known = self.by_digest.get(digest) or self.old_by_digest.get(digest)
        if known is not None and known.unchanged():
            self._keep(known)
            return known.message
        return None

    def _decode(
        self, digest: bytes, data: bytes, decode: Callable[[int, bytes], Any], stored: Hashable
    ) -> Any:
        value = decode(EXT_PYDANTIC_V2, data)
        if isinstance(value, BaseMessage):
            fields = value.model_dump()
            if _encoding(value, fields) == data:
                known = _known(value, fields, data, digest, decoded=True)
                if known is not None:
                    known.stored = stored
                    self._keep(known)
        return value

    def _keep(self, known: _Known) -> None:
        key = id(known.message)
        if self.by_id.get(key) is not known:
            self.size += known.cost
            self.by_id[key] = known
            if known.decoded:
                self.by_digest[known.digest] = known

    def used(self) -> None:
        self.uses += 1
        if self.uses % _GENERATIONS == 0:
            self.old_by_id, self.by_id = self.by_id, {}
            self.old_by_digest, self.by_digest = self.by_digest, {}
            self.old_size, self.size = self.size, 0


class MessageMemo(JsonPlusSerializer):
    """``JsonPlusSerializer`` that encodes and decodes an unchanged message once,
    within a ``scope``; outside one it is LangGraph's serializer. With
    ``rows``, a checkpoint's lists of messages are stored by reference."""

    def __init__(self, rows: MessageRows | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows = rows
        self._fresh()

    def _fresh(self) -> None:
        self._scopes: collections.OrderedDict[tuple[str, str], _Scope] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._allowing: dict[frozenset[Any], MessageMemo] = {}

    def with_msgpack_allowlist(self, extra_allowlist: Iterable[tuple[str, ...] | type]) -> Any:
        """LangGraph's derived serializer (a graph's allowlist, under
        ``LANGGRAPH_STRICT_MSGPACK``), one per allowlist: LangGraph asks on
        every run. It remembers apart: an object decoded under a looser
        allowlist is never handed to a stricter one."""
        extra = frozenset(extra_allowlist)
        derived = self._allowing.get(extra)
        if derived is None:
            derived = cast(MessageMemo, super().with_msgpack_allowlist(extra))
            if derived is not self:
                derived._fresh()
            self._allowing[extra] = derived
        return derived

    @contextmanager
    def scope(
        self,
        config: RunnableConfig,
        *,
        checkpoint: bool = False,
        copied_from: str | None = None,
        remember: bool = True,
    ) -> Iterator[None]:
        """What is encoded and decoded meanwhile (in this context: this thread,
        this task, what it hands to ``asyncio.to_thread``) belongs to the
        LangGraph thread and checkpoint namespace of ``config``. ``checkpoint``:
        what is dumped meanwhile is a checkpoint, whose lists of messages are
        stored by reference (with ``rows``). ``copied_from``: the checkpoint
        that one copies where its channels' versions are unchanged, no node
        having run since it was read (a turn's input checkpoint: its parent).
        ``remember`` False: a read that neither uses nor keeps what the memo
        holds (a listing of many threads, which would push out those in use)."""
        configurable = config["configurable"]
        key = (str(configurable["thread_id"]), str(configurable.get("checkpoint_ns", "")))
        if remember:
            with self._lock:
                found = self._scopes.pop(key, None) or _Scope(key)
                self._scopes[key] = found
        else:
            found = _Scope(key)
        token = _CURRENT.set((found, checkpoint, copied_from))
        try:
            yield
        finally:
            _CURRENT.reset(token)
            if remember:
                found.used()
                self._forget()

    def _forget(self) -> None:
        """Drop the scopes used least lately beyond ``SCOPES`` and ``MEMO_BYTES``."""
        with self._lock:  # summed anew: scopes may be in use at once, or evicted
            held = sum(scope.held for scope in self._scopes.values())
            while self._scopes and (len(self._scopes) > SCOPES or held > MEMO_BYTES):
                _, oldest = self._scopes.popitem(last=False)
                held -= oldest.held

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        use = _CURRENT.get()
        if use is None or not isinstance(obj, list | dict):
            return super().dumps_typed(obj)
        scope, checkpoint, copied_from = use
        kind = "msgpack"
        if isinstance(obj, list):  # a write of messages, maybe
            obj = _spliced(scope, obj)
        elif checkpoint and self._rows is not None:
            epoch = self._rows.epoch(scope.key)
            versions = obj.get("channel_versions") or {}
            put = _Put(str(obj["id"]), versions, copied_from, self._rows, epoch)
            values = {
                k: scope.channel(k, v, put) if v and _messages(v) else v
                for k, v in obj["channel_values"].items()
            }
            obj = {**obj, "channel_values": values}
            if any(isinstance(v, ormsgpack.Ext) for v in values.values()):
                kind = REFERENCED
        packed = ormsgpack.packb(obj, default=jsonplus._msgpack_default, option=jsonplus._option)
        return kind, packed

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        use = _CURRENT.get()
        rows = self._rows
        if data[0] == REFERENCED and rows is None:
            raise StoreUnavailableError("a checkpoint holds messages by reference, and no rows")
        if data[0] not in ("msgpack", REFERENCED) or use is None:
            return super().loads_typed(data)
        scope = use[0]
        decode = self._unpack_ext_hook
        failed: list[Exception] = []

        def ext_hook(code: int, payload: bytes) -> Any:
            try:
                if code == EXT_PYDANTIC_V2:
                    return scope.decoded(payload, decode)
                if code == EXT_MESSAGES and rows is not None:
                    return scope.resolved(payload, rows, decode)
                return decode(code, payload)
            except Exception as exc:  # ormsgpack raises "ext_hook failed" in its place
                failed.append(exc)
                raise

        try:
            return ormsgpack.unpackb(data[1], ext_hook=ext_hook, option=ormsgpack.OPT_NON_STR_KEYS)
        except ValueError:
            if failed:
                raise failed[0] from None
            raise


def _messages(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, BaseMessage) for m in value)


def _spliced(scope: _Scope, value: Any) -> Any:
    """A list of messages with each message's bytes in place; else ``value``."""
    if not _messages(value):
        return value
    return [scope.encoded(message) for message in value]


def references(blob: bytes) -> list[bytes]:
    """The ``EXT_MESSAGES`` payloads of a checkpoint as ``MessageMemo`` with rows
    stores it: one per list of messages in its state."""
    found: list[bytes] = []

    def ext_hook(code: int, payload: bytes) -> None:
        if code == EXT_MESSAGES:
            found.append(payload)

    try:
        ormsgpack.unpackb(blob, ext_hook=ext_hook, option=ormsgpack.OPT_NON_STR_KEYS)
    except ValueError as exc:  # ormsgpack.MsgpackDecodeError
        raise StoreUnavailableError(f"a checkpoint in the database cannot be read: {exc}") from exc
    return found


def digests(payload: bytes) -> list[bytes]:
    """The digests an ``EXT_MESSAGES`` payload holds, in order."""
    return [payload[at : at + DIGEST] for at in range(0, len(payload), DIGEST)]


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=DIGEST).digest()


def _fragment(data: bytes) -> ormsgpack.Fragment:
    return ormsgpack.Fragment(ormsgpack.packb(ormsgpack.Ext(EXT_PYDANTIC_V2, data)))
