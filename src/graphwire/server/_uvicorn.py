"""uvicorn, told to stop active runs first when asked to exit, and with a
bound on reading a request's headers.

uvicorn drains open responses before the app's shutdown; a streaming run would
hold the process until the graph finished. On exit we cancel active runs, so
their streams end at once with outcome cancelled.

uvicorn has no deadline for a request's headers: a connection that sends
nothing, or half a request line, stays open forever, and enough of them take
every file descriptor. ``BoundedHeadersProtocol`` closes a connection whose
headers are not complete within ``header_timeout_seconds`` (10 by default) of
its opening, or of the first byte of its next request.
"""

from __future__ import annotations

import asyncio
import socket
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from graphwire.runs import RunRegistry

HEADER_TIMEOUT_SECONDS = 10.0


def bounded_headers(seconds: float) -> type[BoundedHeadersProtocol]:
    """The protocol class to give uvicorn (``http=``) for a header deadline."""
    return type("BoundedHeaders", (BoundedHeadersProtocol,), {"header_timeout": seconds})


class BoundedHeadersProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers."""

    header_timeout = HEADER_TIMEOUT_SECONDS
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class GraphwireServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, registry: RunRegistry) -> None:
        super().__init__(config)
        self._registry = registry
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGINT/SIGTERM: stop active runs, then let uvicorn shut down."""
        self._cancel_runs()
        super().handle_exit(sig, frame)

    def stop(self) -> None:
        """The same as a signal, for an embedding program (no signal re-raised)."""
        self._cancel_runs()
        self.should_exit = True

    def _cancel_runs(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._registry.cancel_all)
