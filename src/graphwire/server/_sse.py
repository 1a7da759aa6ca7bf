"""Server-sent events from an event log: ``id: <seq>`` + ``data: <json>``.

The writer runs in the request's task; a listener task waits for the client to
go away and cancels it (a client that goes away stops a default-mode run).
Every send has a timeout (one timer per stream, not one per send); keepalive
comments flow on quiet streams and never after the final frame, which carries
the end of the body.

The first frames of a stream go out at once. After that, an event that finds
the writer waiting starts a gathering of ``flush_interval`` (by default 16 ms,
one frame of a 60 Hz display): the events that follow it within that time go
out in the same write (and a run log merges their content deltas meanwhile),
and the run's end cuts the gathering short. No event waits longer than
``flush_interval``, a busy stream takes one write and one wake-up of its
writer per batch instead of per event, and a server under load spends its
CPU on runs rather than on tiny writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import Message, Receive, Scope, Send

from graphwire.runs import RunLog
from graphwire.tasks import SETTLED, TaskStore

logger = logging.getLogger("graphwire.server")

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
    (b"connection", b"keep-alive"),
]
KEEPALIVE = b": keepalive\n\n"


class LogSource(Protocol):
    """An event log a stream replays and tails: frames numbered 1, 2, 3 ..."""

    async def read(self, after: int) -> Sequence[str]:
        """The frames after seq ``after`` (their seqs are after+1, after+2, ...)."""

    def wait(self, after: int, timeout: float, gather: float) -> Awaitable[bool]:
        """Wait for more after ``after`` (or the end), then ``gather`` seconds
        more for the events that follow; False on timeout."""

    async def finished(self, after: int) -> bool:
        """True when nothing more will come after ``after``."""


@dataclass(frozen=True, slots=True)
class RunLogSource:
    """A foreground run's in-memory log."""

    log: RunLog

    async def read(self, after: int) -> Sequence[str]:
        return self.log.after(after)

    def wait(self, after: int, timeout: float, gather: float) -> Awaitable[bool]:
        return self.log.wait(after, timeout, gather)

    async def finished(self, after: int) -> bool:
        return self.log.closed and self.log.last_seq <= after


@dataclass(frozen=True, slots=True)
class TaskLogSource:
    """A task's durable log, read in pages; finished once the task has settled
    (done, failed, cancelled or review_needed) and every event is out."""

    store: TaskStore
    task_id: str
    page: int = 500

    async def read(self, after: int) -> Sequence[str]:
        return [e.frame for e in await self.store.read_events(self.task_id, after, self.page)]

    async def wait(self, after: int, timeout: float, gather: float) -> bool:
        if not await self.store.wait_events(self.task_id, after, timeout):
            return False
        if gather:
            await asyncio.sleep(gather)
        return True

    async def finished(self, after: int) -> bool:
        task = await self.store.get(self.task_id)
        if task.state not in SETTLED or task.lease_owner is not None:
            return False
        # The last events are written with the outcome: settled means all are there.
        return not await self.store.read_events(self.task_id, after, 1)


@dataclass(slots=True)
class EventStream:
    """An ASGI response that replays ``source`` after ``after`` and tails it live."""

    source: LogSource
    after: int
    keepalive: float
    send_timeout: float
    on_disconnect: Callable[[], None] | None = None
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()
    flush_interval: float = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch = _Watch(asyncio.current_task(), receive, send, self.send_timeout)
        completed = False
        try:
            await watch.send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*HEADERS, *self.extra_headers],
                }
            )
            await self._write(watch)
            completed = True
        except asyncio.CancelledError:
            if watch.why is None or watch.task.uncancel() > 0:
                raise  # not (only) our own cancellation
            if watch.why == "stalled":
                logger.info("SSE client stopped reading: no send in %s s", self.send_timeout)
        except OSError as exc:
            logger.info("SSE client stopped reading: %r", exc)
        finally:
            watch.close()
            if not completed and self.on_disconnect is not None:
                self.on_disconnect()

    async def _write(self, watch: _Watch) -> None:
        seq = self.after
        source = self.source
        gather = 0.0  # the first frames go out at once
        while True:
            frames = await source.read(seq)
            if frames:
                body = b"".join(_frame(seq + n, data) for n, data in enumerate(frames, 1))
                seq += len(frames)
                last = await source.finished(seq)
                await watch.send(_body(body, more=not last))
                if last:
                    return
                gather = self.flush_interval
                continue
            if await source.finished(seq):
                await watch.send(_body(b"", more=False))
                return
            if not await source.wait(seq, self.keepalive, gather):
                await watch.send(_body(KEEPALIVE, more=True))


def _body(body: bytes, more: bool) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": more}


def _frame(seq: int, data: str) -> bytes:
    return f"id: {seq}\ndata: {data}\n\n".encode()


class _Watch:
    """Stops the writer — cancels ``task`` — when the client disconnects
    (``why`` "gone") or a send has not completed in ``send_timeout`` seconds
    (``why`` "stalled": a client that stopped reading), until ``close``.

    One timer per stream watches the sends, re-armed when it fires during a
    send and dropped when it finds none: a send is an attribute write, not a
    timer (``asyncio.timeout`` cost ~5 µs per send).
    """

    def __init__(
        self, task: asyncio.Task[Any] | None, receive: Receive, send: Send, send_timeout: float
    ) -> None:
        if task is None:
            raise RuntimeError("an SSE response runs in a task")
        self.task = task
        self.why: str | None = None
        self._send = send
        self._timeout = send_timeout
        self._loop = asyncio.get_running_loop()
        self._sending_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._listener = asyncio.ensure_future(_until_disconnect(receive))
        self._listener.add_done_callback(self._heard)

    async def send(self, message: Message) -> None:
        since = self._sending_since = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(since + self._timeout, self._check)
        try:
            await self._send(message)
        finally:
            self._sending_since = None

    def _check(self) -> None:
        since = self._sending_since
        if since is None:
            self._timer = None
        elif self._loop.time() >= since + self._timeout:
            self._timer = None
            self._stop("stalled")
        else:
            self._timer = self._loop.call_at(since + self._timeout, self._check)

    def _heard(self, listener: asyncio.Future[None]) -> None:
        if listener.cancelled():
            return
        error = listener.exception()
        if error is not None:
            logger.warning("reading the SSE request failed: %r", error)
        self._stop("gone")

    def _stop(self, why: str) -> None:
        if not self._closed and self.why is None:
            self.why = why
            self.task.cancel()

    def close(self) -> None:
        self._closed = True
        self._listener.cancel()
        if self._timer is not None:
            self._timer.cancel()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
