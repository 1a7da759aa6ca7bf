"""A real uvicorn on 127.0.0.1 with a random port, in the test's event loop."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from ag_ui.core import BaseEvent
from httpx_sse import aconnect_sse

from graphwire.server import Agent, GraphwireServer, ServerOptions, create_app
from tests.agui_checks import EVENT

LiveServer = Callable[..., Any]


@asynccontextmanager
async def live_server(
    agents: Sequence[Agent], options: ServerOptions | None = None, **app_args: Any
) -> AsyncIterator[str]:
    """Serve ``agents`` on a random loopback port; yields the base URL."""
    app = create_app(agents, options, **app_args)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = GraphwireServer(config, app.state.registry)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.stop()
        async with asyncio.timeout(10):
            await task
        sock.close()


def run_body(thread: str = "t1", run: str = "r1", text: str = "hi", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "threadId": thread,
        "runId": run,
        "protocolVersion": "1.0",
        "state": {},
        "tools": [],
        "context": [],
        "forwardedProps": {},
        "messages": [{"id": f"u-{run}", "role": "user", "content": text}],
    }
    body.update(extra)
    return body


async def read_events(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    limit: int | None = None,
    **kwargs: Any,
) -> tuple[list[int], list[BaseEvent]]:
    """SSE ids and events, optionally stopping (dropping the connection) after ``limit``."""
    ids: list[int] = []
    events: list[BaseEvent] = []
    async with asyncio.timeout(20), aconnect_sse(client, method, url, **kwargs) as source:
        source.response.raise_for_status()
        async for sse in source.aiter_sse():
            ids.append(int(sse.id))
            events.append(EVENT.validate_python(json.loads(sse.data)))
            if limit is not None and len(events) >= limit:
                break
    return ids, events


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as http:
        yield http
