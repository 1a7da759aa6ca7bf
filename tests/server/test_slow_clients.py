"""Slow and idle clients cannot hold the server: a body-read deadline, a
header-read deadline and a bound on concurrent connections."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx

from graphwire.server import Agent, ServerOptions
from tests.graphs import agent_graph
from tests.processes import serve, wait_healthy
from tests.server.conftest import live_server


async def test_a_body_that_trickles_past_its_deadline_is_a_408() -> None:
    options = ServerOptions(body_timeout_seconds=0.5)
    async with live_server([Agent("chat", agent_graph([]))], options) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /agents/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'content-type: application/json\r\ncontent-length: 1000\r\n\r\n{"threadId"'
        )
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read(4096)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"BODY_TIMEOUT" in answer


async def test_idle_connections_are_closed_and_bounded(tmp_path: Path) -> None:
    env = {"GRAPHWIRE_HEADER_TIMEOUT_SECONDS": "1", "GRAPHWIRE_LIMIT_CONCURRENCY": "20"}
    process, url = serve(["--store", "memory"], tmp_path, env)
    idle: list[socket.socket] = []
    try:
        await wait_healthy(url)
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(30)]
        for half in idle[:10]:
            half.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        async with httpx.AsyncClient(timeout=5) as client:
            flooded = (await client.get(f"{url}/healthz")).status_code
            await asyncio.sleep(2)  # past the header deadline
            closed = [await asyncio.to_thread(_closed_by_server, s) for s in idle]
            after = (await client.get(f"{url}/healthz")).status_code
    finally:
        for sock in idle:
            sock.close()
        process.terminate()
        process.communicate(timeout=30)
    assert flooded == 503  # answered at once, not left waiting
    assert all(closed) and after == 200


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
