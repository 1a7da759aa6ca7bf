"""The ordered event log of one run: seq 1, 2, 3 ... ; replay and live tail are
one path (read after seq N, then wait for more).

Events that nobody has read yet wait in a ``Frames`` batch, where consecutive
content deltas of one message or tool call merge into one event: a stream that
outruns its reader sends one TEXT_MESSAGE_CONTENT per burst instead of one per
token. What a reader has seen never changes. A message's first content wakes
a gathering reader at once; what follows is gathered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, TypeGuard, runtime_checkable

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


@runtime_checkable
class DeltaSink(EventSink, Protocol):
    """A sink that also takes a further token of the message it was given last
    as that event with a new delta, without a new event being built (the run's
    hot path; graphwire's own logs are such sinks)."""

    def put_delta(self, event: TextMessageContentEvent, delta: str) -> None:
        """The next event is ``event`` with ``delta`` as its delta."""


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
    """One reader waiting for the log: the future it awaits, the time it stops
    waiting, and the timer of its gathering once an event came."""

    __slots__ = ("deadline", "future", "gather", "timer")

    def __init__(self, future: asyncio.Future[bool], deadline: float, gather: float) -> None:
        self.future = future
        self.deadline = deadline
        self.gather = gather
        self.timer: asyncio.TimerHandle | None = None

    def end(self, result: bool) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.future.done():  # a reader that went away cancelled it
            self.future.set_result(result)


class _Signal:
    """Wakes waiters when an event comes (or once they have gathered the events
    after it), and all of them at once when the log closes.

    A wait is a future the reader awaits. One timer per log enforces the
    waits' timeouts (re-armed when it fires for a wait that has since ended),
    not one per wait; a gathering reader has a timer of its own and wakes once
    per batch instead of once per event.
    """

    __slots__ = ("_clock", "_gathering", "_idle")

    def __init__(self) -> None:
        self._idle: list[_Wait] = []
        self._gathering: list[_Wait] = []
        self._clock: asyncio.TimerHandle | None = None

    def fire(self) -> None:
        if not self._idle:
            return
        idle, self._idle = self._idle, []
        for waiter in idle:
            if waiter.future.done():
                continue  # the reader went away
            if waiter.gather:
                loop = waiter.future.get_loop()
                waiter.timer = loop.call_later(waiter.gather, self._gathered, waiter)
                self._gathering.append(waiter)
            else:
                waiter.end(True)

    def flush(self) -> None:
        """Wake every waiter now, gathering or not."""
        for waiter in (*self._idle, *self._gathering):
            waiter.end(True)
        self._idle.clear()
        self._gathering.clear()

    def close(self) -> None:
        self.flush()
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def wait(self, timeout: float, gather: float) -> asyncio.Future[bool]:
        """True when an event came (and ``gather`` seconds passed since, or the
        log closed), False on timeout."""
        loop = asyncio.get_running_loop()
        waiter = _Wait(loop.create_future(), loop.time() + timeout, gather)
        self._idle.append(waiter)
        if self._clock is None or waiter.deadline < self._clock.when():
            self._arm(loop, waiter.deadline)
        return waiter.future

    def _gathered(self, waiter: _Wait) -> None:
        self._gathering.remove(waiter)
        waiter.end(True)

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._clock is not None:
            self._clock.cancel()
        self._clock = loop.call_at(at, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """The earliest timeout came: end the waits that are due, re-arm for the rest."""
        self._clock = None
        now = loop.time()
        waiting = []
        for waiter in self._idle:
            if waiter.deadline <= now:
                waiter.end(False)
            elif not waiter.future.done():
                waiting.append(waiter)
        self._idle = waiting
        if waiting:
            self._arm(loop, min(w.deadline for w in waiting))


class RunLog:
    """Events as JSON text, numbered from 1; closed by the terminal event."""

    def __init__(self) -> None:
        self._frames: list[str] = []
        self._unread = Frames()
        self._closed = False
        self._changed = _Signal()
        self._begun: set[str] = set()
        """Messages and tool calls whose content has begun."""

    @classmethod
    def restored(cls, frames: Sequence[str]) -> RunLog:
        """The closed log of an earlier run, from its stored frames."""
        log = cls()
        log._frames = list(frames)
        log._closed = True
        return log

    @property
    def closed(self) -> bool:
        """The terminal event is in: nothing more will come."""
        return self._closed

    @property
    def last_seq(self) -> int:
        """The seq of the last event put (0: none yet)."""
        return len(self._frames) + len(self._unread)

    def reopen(self) -> None:
        """Let a run that resumes this (interrupted) one append to the log: its
        events follow, numbered on (docs/adr/0008-drop-in-compatibility.md)."""
        if not self._closed:
            raise RuntimeError("the run's log is still open")
        self._closed = False

    def put(self, event: BaseEvent) -> None:
        """Append one event (a content delta may merge into the unread one before
        it). Nothing may follow the terminal event."""
        if self._closed:
            raise RuntimeError("the run's log is closed")
        if self._unread.put(event):
            if event.type in _TERMINAL:
                self._closed = True
                self._changed.close()
            elif isinstance(event, _DELTA_TYPES) and _target(event) not in self._begun:
                # A message's (or tool call's) first content leaves at once: the
                # time to its first token is what a user watches.
                self._begun.add(_target(event))
                self._changed.flush()
            else:
                self._changed.fire()

    def put_delta(self, event: _Delta, delta: str) -> None:
        """Append ``event`` again with ``delta`` as its delta (see ``DeltaSink``)."""
        if self._closed:
            raise RuntimeError("the run's log is closed")
        if self._unread.put_delta(event, delta):
            self._changed.fire()

    def size(self) -> int:
        """The characters its events hold (what keeping the log costs, roughly)."""
        return sum(map(len, self.after(0)))

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
