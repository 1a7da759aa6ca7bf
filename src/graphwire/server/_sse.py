"""Server-sent events from a run's log: ``id: <seq>`` + ``data: <json>``.

Writer and disconnect listener run as sibling tasks; the first to finish
cancels the other. Every send has a timeout; keepalive comments flow on quiet
streams and never after the final frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from graphwire.runs import RunLog

logger = logging.getLogger("graphwire.server")

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
    (b"connection", b"keep-alive"),
]
KEEPALIVE = b": keepalive\n\n"


@dataclass(slots=True)
class EventStream:
    """An ASGI response that replays ``log`` after ``after`` and tails it live."""

    log: RunLog
    after: int
    keepalive: float
    send_timeout: float
    on_disconnect: Callable[[], None] | None = None
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*HEADERS, *self.extra_headers],
            }
        )
        writer = asyncio.ensure_future(self._write(send))
        listener = asyncio.ensure_future(_until_disconnect(receive))
        done, _ = await asyncio.wait({writer, listener}, return_when=asyncio.FIRST_COMPLETED)
        for task in (writer, listener):
            if task not in done:
                task.cancel()
        await asyncio.gather(writer, listener, return_exceptions=True)
        if writer in done and writer.exception() is None:
            return
        if writer in done:
            logger.info("SSE client stopped reading: %r", writer.exception())
        if self.on_disconnect is not None:
            self.on_disconnect()

    async def _write(self, send: Send) -> None:
        seq = self.after
        while True:
            frames = self.log.after(seq)
            if frames:
                body = b"".join(_frame(seq + n, data) for n, data in enumerate(frames, 1))
                seq += len(frames)
                await self._send(send, body)
                continue
            if self.log.closed:
                async with asyncio.timeout(self.send_timeout):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if not await self.log.wait(seq, self.keepalive):
                await self._send(send, KEEPALIVE)

    async def _send(self, send: Send, body: bytes) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
        # cancellation that races a completing send, and the writer runs on.
        async with asyncio.timeout(self.send_timeout):
            await send({"type": "http.response.body", "body": body, "more_body": True})


def _frame(seq: int, data: str) -> bytes:
    return f"id: {seq}\ndata: {data}\n\n".encode()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
