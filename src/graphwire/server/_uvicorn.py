"""uvicorn, told to stop active runs first when asked to exit, and with a
bound on reading a request's headers.

uvicorn drains open responses before the app's shutdown; a streaming run would
hold the process until the graph finished. On exit we cancel active runs, so
their streams end at once with outcome cancelled.

uvicorn has no deadline for a request's headers: a connection that sends
nothing, or half a request line, stays open forever, and enough of them take
every file descriptor. And a client that stops reading leaves a response
unfinished: uvicorn then *closes* the transport, which waits to flush a buffer
that never drains, so the socket and its memory stay. ``BoundedProtocol``
closes a connection whose headers are not complete within
``header_timeout_seconds`` (10 by default) of its opening or of the first byte
of its next request, answers 431 to headers over ``MAX_HEADER_BYTES``, and
aborts one whose writes have been blocked (its reader not reading) for
``send_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from graphwire.protocol import GraphwireError
from graphwire.runs import RunRegistry

logger = logging.getLogger("graphwire.server")

HEADER_TIMEOUT_SECONDS = 10.0


MAX_HEADER_BYTES = 64 * 1024
"""A request line and headers larger than this are refused (431), counted as
they arrive (from the read after the one a request began in, which may hold
the last one's body): uvicorn's httptools protocol has no bound of its own."""
_REFUSAL = json.dumps(
    {"code": "HEADERS_TOO_LARGE", "message": f"headers exceed {MAX_HEADER_BYTES} bytes"}
).encode()
_HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_REFUSAL), _REFUSAL)
)

OVERDUE_SECONDS = 1.0
"""How long past its grace a shutdown may go on (pools closing after it)."""
STALL_TIMEOUT_SECONDS = 30.0
START_TIMEOUT_SECONDS = 30.0


def bounded_protocol(header_timeout: float, stall_timeout: float) -> type[BoundedProtocol]:
    """The protocol class to give uvicorn (``http=``) with these deadlines."""
    limits = {"header_timeout": header_timeout, "stall_timeout": stall_timeout}
    return type("Bounded", (BoundedProtocol,), limits)


class BoundedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers
    and for a blocked write."""

    header_timeout = HEADER_TIMEOUT_SECONDS
    stall_timeout = STALL_TIMEOUT_SECONDS
    _header_timer: asyncio.TimerHandle | None = None
    _stall_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _begun = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun += 1
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        began = self._begun
        super().data_received(data)
        if self._header_timer is None or self._begun != began:
            return  # headers read, or a request began in this read: counted from the next
        # Still reading a request's headers: httptools keeps them until they end.
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self._disarm()
            self.transport.write(_HEADERS_TOO_LARGE)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._unstall()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.stall_timeout, self._stalled)

    def resume_writing(self) -> None:
        self._unstall()
        super().resume_writing()

    def _unstall(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _stalled(self) -> None:
        """The reader has not read for ``stall_timeout``: drop the connection and
        its buffer at once (the response is lost to it anyway)."""
        self._stall_timer = None
        self.transport.abort()

    def _arm(self) -> None:
        self._disarm()
        self._head_bytes = 0
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
    """uvicorn's server, stopping the registry's active runs when a shutdown
    begins (their streams end at once, cancelled, instead of holding it up).
    With a ``grace``, a shutdown asked by a signal that has not ended
    ``OVERDUE_SECONDS`` after it ends the process at once, logged: something
    ignored every cancel (after Ctrl-C the event loop's close waits for each
    task without a limit), and what it had not finished is left as a crash
    leaves it."""

    def __init__(
        self, config: uvicorn.Config, registry: RunRegistry, grace: float | None = None
    ) -> None:
        super().__init__(config)
        self._registry = registry
        self._loop: asyncio.AbstractEventLoop | None = None
        self._grace = grace
        self._overdue: threading.Timer | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until shut down (on ``sockets``, if given)."""
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGINT/SIGTERM: stop active runs, then let uvicorn shut down."""
        if self._grace is not None and self._overdue is None:
            self._overdue = threading.Timer(self._grace + OVERDUE_SECONDS, self._exit_now)
            self._overdue.daemon = True
            self._overdue.start()
        self._cancel_runs()
        super().handle_exit(sig, frame)

    def _exit_now(self) -> None:
        logger.error(
            "the shutdown took longer than its grace (%s s); exiting now: what it had not"
            " finished is left as a crash leaves it",
            self._grace,
        )
        logging.shutdown()
        os._exit(1)

    def stop(self) -> None:
        """The same as a signal, for an embedding program (no signal re-raised)."""
        self._cancel_runs()
        self.should_exit = True

    def _cancel_runs(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._registry.cancel_all)


class ServeError(GraphwireError):
    """The server could not be started."""


@contextlib.contextmanager
def serving_in_thread(config: uvicorn.Config, registry: RunRegistry) -> Iterator[str]:
    """Serve ``config``'s app on a free loopback port from a thread of this
    process (``graphwire chat SPEC``); yields its base URL, stops it on exit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        server = GraphwireServer(config, registry)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="graphwire-server", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            if thread.is_alive():
                server.stop()
                thread.join(START_TIMEOUT_SECONDS)
            raise ServeError("the in-process server did not start (its log above says why)")
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            if thread.is_alive():  # else it has stopped on its own, and logged why
                server.stop()
                thread.join()
