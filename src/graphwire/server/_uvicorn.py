"""uvicorn, told to stop active runs first when asked to exit.

uvicorn drains open responses before the app's shutdown; a streaming run would
hold the process until the graph finished. On exit we cancel active runs, so
their streams end at once with outcome cancelled.
"""

from __future__ import annotations

import asyncio
import socket
from types import FrameType

import uvicorn

from graphwire.runs import RunRegistry


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
