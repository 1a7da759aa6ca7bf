"""Server-sent events from an event log: ``id: <seq>`` + ``data: <json>``.

The writer runs in the request's task; a listener task waits for the client to
go away and cancels it (a client that goes away stops a default-mode run).
Every send has a timeout; keepalive comments flow on quiet streams and never
after the final frame, which carries the end of the body.

After a write the writer rests before it reads again: a quarter of
``flush_interval`` at first, doubling while the stream stays busy, up to
``flush_interval`` (by default 16 ms, one frame of a 60 Hz display). A fast
stream's events go out together, a few writes per burst (and a run log merges
the content deltas that wait meanwhile); a stream whose events come slower
than that finds the writer waiting and each goes out at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import Receive, Scope, Send

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

    async def wait(self, after: int, timeout: float) -> bool:
        """Wait for more after ``after`` (or the end); False on timeout."""

    async def finished(self, after: int) -> bool:
        """True when nothing more will come after ``after``."""

    async def rest(self, seconds: float) -> None:
        """Let events gather for ``seconds`` (less if the log ends meanwhile)."""


@dataclass(frozen=True, slots=True)
class RunLogSource:
    """A foreground run's in-memory log."""

    log: RunLog

    async def read(self, after: int) -> Sequence[str]:
        return self.log.after(after)

    async def wait(self, after: int, timeout: float) -> bool:
        return await self.log.wait(after, timeout)

    async def finished(self, after: int) -> bool:
        return self.log.closed and self.log.last_seq <= after

    async def rest(self, seconds: float) -> None:
        await self.log.wait_closed(seconds)


@dataclass(frozen=True, slots=True)
class TaskLogSource:
    """A task's durable log, read in pages; finished once the task has settled
    (done, failed, cancelled or review_needed) and every event is out."""

    store: TaskStore
    task_id: str
    page: int = 500

    async def read(self, after: int) -> Sequence[str]:
        return [e.frame for e in await self.store.read_events(self.task_id, after, self.page)]

    async def wait(self, after: int, timeout: float) -> bool:
        return await self.store.wait_events(self.task_id, after, timeout)

    async def finished(self, after: int) -> bool:
        task = await self.store.get(self.task_id)
        if task.state not in SETTLED or task.lease_owner is not None:
            return False
        # The last events are written with the outcome: settled means all are there.
        return not await self.store.read_events(self.task_id, after, 1)

    async def rest(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


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
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*HEADERS, *self.extra_headers],
            }
        )
        watch = _DisconnectWatch(asyncio.current_task(), receive)
        completed = False
        try:
            await self._write(send)
            completed = True
        except asyncio.CancelledError:
            if not watch.gone:
                raise
            watch.task.uncancel()  # our own cancellation: the client went away
        except (TimeoutError, OSError) as exc:
            logger.info("SSE client stopped reading: %r", exc)
        finally:
            watch.close()
            if not completed and self.on_disconnect is not None:
                self.on_disconnect()

    async def _write(self, send: Send) -> None:
        seq = self.after
        source = self.source
        rest = 0.0
        while True:
            frames = await source.read(seq)
            if frames:
                body = b"".join(_frame(seq + n, data) for n, data in enumerate(frames, 1))
                seq += len(frames)
                last = await source.finished(seq)
                await self._send(send, body, more=not last)
                if last:
                    return
                if self.flush_interval:
                    rest = min(rest * 2, self.flush_interval) if rest else self.flush_interval / 4
                    await source.rest(rest)
                continue
            rest = 0.0
            if await source.finished(seq):
                await self._send(send, b"", more=False)
                return
            if not await source.wait(seq, self.keepalive):
                await self._send(send, KEEPALIVE)

    async def _send(self, send: Send, body: bytes, more: bool = True) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
        # cancellation that races a completing send, and the writer runs on.
        async with asyncio.timeout(self.send_timeout):
            await send({"type": "http.response.body", "body": body, "more_body": more})


def _frame(seq: int, data: str) -> bytes:
    return f"id: {seq}\ndata: {data}\n\n".encode()


class _DisconnectWatch:
    """Cancels ``task`` when the client disconnects, until ``close``."""

    def __init__(self, task: asyncio.Task[Any] | None, receive: Receive) -> None:
        if task is None:
            raise RuntimeError("an SSE response runs in a task")
        self.task = task
        self.gone = False
        self._closed = False
        self._listener = asyncio.ensure_future(_until_disconnect(receive))
        self._listener.add_done_callback(self._heard)

    def _heard(self, listener: asyncio.Future[None]) -> None:
        if listener.cancelled():
            return
        error = listener.exception()
        if error is not None:
            logger.warning("reading the SSE request failed: %r", error)
        if not self._closed:
            self.gone = True
            self.task.cancel()

    def close(self) -> None:
        self._closed = True
        self._listener.cancel()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
