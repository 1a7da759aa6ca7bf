"""The ordered event log of one run: seq 1, 2, 3 ... ; replay and live tail are
one path (read after seq N, then wait for more).

Events that nobody has read yet wait in a ``Frames`` batch, where consecutive
content deltas of one message or tool call merge into one event: a stream that
outruns its reader sends one TEXT_MESSAGE_CONTENT per burst instead of one per
token. What a reader has seen never changes.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, TypeGuard

from ag_ui.core import (
    BaseEvent,
    EventType,
    ReasoningMessageContentEvent,
    TextMessageContentEvent,
    ToolCallArgsEvent,
)

from graphwire.runs._encode import encode_event

_TERMINAL = frozenset({EventType.RUN_FINISHED, EventType.RUN_ERROR})

_Delta = TextMessageContentEvent | ToolCallArgsEvent | ReasoningMessageContentEvent
_DELTA_TYPES = (TextMessageContentEvent, ToolCallArgsEvent, ReasoningMessageContentEvent)


def _target(event: _Delta) -> str:
    return event.tool_call_id if isinstance(event, ToolCallArgsEvent) else event.message_id


def _plain(event: BaseEvent) -> bool:
    """No per-event extras (timestamp, raw event, metadata) that a merge would lose."""
    return event.timestamp is None and event.raw_event is None and event.metadata is None


class EventSink(Protocol):
    """Where a run's events go (``GraphRun.run``)."""

    def put(self, event: BaseEvent) -> None:
        """The next event."""

    def put_delta(self, event: TextMessageContentEvent, delta: str) -> None:
        """The next event is ``event`` with ``delta`` as its delta (the mapper's
        hot path: a further token of the message it mapped last)."""


class Frames:
    """Encoded events on their way somewhere (a reader, a database batch).

    A content delta stays open until something else arrives or the batch is
    taken; deltas for the same message or tool call join it.
    """

    __slots__ = ("_deltas", "_done", "_open")

    def __init__(self) -> None:
        self._done: list[str] = []
        self._open: _Delta | None = None
        self._deltas: list[str] = []

    def __len__(self) -> int:
        return len(self._done) + (self._open is not None)

    def put(self, event: BaseEvent) -> bool:
        """Add ``event``; False when it merged into the open delta (no new frame)."""
        if self._joins(event):
            self._deltas.append(event.delta)
            return False
        self._seal()
        if isinstance(event, _DELTA_TYPES) and _plain(event):
            self._open = event
            self._deltas = [event.delta]
        else:
            self._done.append(encode_event(event))
        return True

    def put_delta(self, event: _Delta, delta: str) -> bool:
        """Add ``event`` again with ``delta`` as its delta (no new model built);
        False when it merged into the open delta (no new frame)."""
        if self._open is event or self._joins(event):
            self._deltas.append(delta)
            return False
        self._seal()  # a reader took the batch, or another writer's event came between
        self._open = event
        self._deltas = [delta]
        return True

    def _joins(self, event: BaseEvent) -> TypeGuard[_Delta]:
        """``event`` continues the open delta (same kind, target and subagent)."""
        current = self._open
        return (
            current is not None
            and type(event) is type(current)
            and _target(event) == _target(current)
            and event.subagent_run_id == current.subagent_run_id
            and _plain(event)
        )

    def take(self) -> list[str]:
        """Everything so far, encoded; the batch starts empty again."""
        self._seal()
        done, self._done = self._done, []
        return done

    def _seal(self) -> None:
        current = self._open
        if current is None:
            return
        delta = "".join(self._deltas)
        if delta != current.delta:
            current = current.model_copy(update={"delta": delta})
        self._done.append(encode_event(current))
        self._open = None


class _Wait:
    """One reader waiting for the log: a future, and one timer at a time (the
    timeout, then the gathering)."""

    __slots__ = ("future", "gather", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, gather: float) -> None:
        self.future: asyncio.Future[bool] = loop.create_future()
        self.gather = gather
        self.timer = loop.call_later(timeout, self.end, False)

    def end(self, result: bool) -> None:
        self.timer.cancel()
        if not self.future.done():
            self.future.set_result(result)

    def heard(self) -> bool:
        """An event came: end now, or start gathering (True) when the reader
        gathers."""
        if not self.gather:
            self.end(True)
            return False
        self.timer.cancel()
        self.timer = self.future.get_loop().call_later(self.gather, self.end, True)
        return True


class _Signal:
    """Wakes waiters when an event comes (or once they have gathered the events
    after it), and all of them at once when the log closes. A future and a
    timer per wait: lighter than an Event under ``asyncio.timeout``, and a
    gathering reader wakes once per batch instead of once per event."""

    __slots__ = ("_gathering", "_idle")

    def __init__(self) -> None:
        self._idle: list[_Wait] = []
        self._gathering: list[_Wait] = []

    def fire(self) -> None:
        if self._idle:
            idle, self._idle = self._idle, []
            self._gathering.extend(w for w in idle if w.heard())

    def close(self) -> None:
        for waiter in (*self._idle, *self._gathering):
            waiter.end(True)
        self._idle.clear()
        self._gathering.clear()

    async def wait(self, timeout: float, gather: float) -> bool:
        """True when an event came (and ``gather`` seconds passed since, or the
        log closed), False on timeout."""
        waiter = _Wait(asyncio.get_running_loop(), timeout, gather)
        self._idle.append(waiter)
        try:
            return await waiter.future
        finally:
            waiter.timer.cancel()
            for waiters in (self._idle, self._gathering):
                if waiter in waiters:  # timed out, gathered, or cancelled
                    waiters.remove(waiter)


class RunLog:
    """Events as JSON text, numbered from 1; closed by the terminal event."""

    def __init__(self) -> None:
        self._frames: list[str] = []
        self._unread = Frames()
        self._closed = False
        self._changed = _Signal()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_seq(self) -> int:
        return len(self._frames) + len(self._unread)

    def put(self, event: BaseEvent) -> None:
        """Append one event (a content delta may merge into the unread one before
        it). Nothing may follow the terminal event."""
        if self._closed:
            raise RuntimeError("the run's log is closed")
        if self._unread.put(event):
            if event.type in _TERMINAL:
                self._closed = True
                self._changed.close()
            else:
                self._changed.fire()

    def put_delta(self, event: _Delta, delta: str) -> None:
        if self._closed:
            raise RuntimeError("the run's log is closed")
        if self._unread.put_delta(event, delta):
            self._changed.fire()

    def after(self, seq: int) -> list[str]:
        """The events after ``seq`` (their seqs are seq+1, seq+2, ...)."""
        if len(self._unread):
            self._frames.extend(self._unread.take())
        return self._frames[max(seq, 0) :]

    async def wait(self, seq: int, timeout: float, gather: float = 0.0) -> bool:
        """Wait until there is an event after ``seq`` or the log closes; False on
        timeout. With ``gather``, a wait woken by an event goes on that many
        seconds more, for the events that follow it (the log's end cuts it short)."""
        if self.last_seq > seq or self._closed:
            return True
        return await self._changed.wait(timeout, gather)
