"""Slow and idle clients cannot hold the server: a body-read deadline, a
header-read deadline and a bound on concurrent connections."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import socket
import time
from pathlib import Path

import httpx
import pytest

from graphwire.server import Agent, ServerOptions
from tests.graphs import agent_graph
from tests.processes import serve, wait_healthy
from tests.server.conftest import live_server, run_body


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


async def test_a_client_that_leaves_while_sending_its_body_is_no_server_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")  # does not reach the root logger
    async with live_server([Agent("chat", agent_graph(["Hi"]))]) as url:
        host, port = url.removeprefix("http://").split(":")
        uvicorn_log.addHandler(caplog.handler)
        try:
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                b"POST /agents/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n{"
            )
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.close()  # every body is read by read_model, the task routes' too
            await asyncio.sleep(1.0)  # time for an error the ASGI server would log
            async with httpx.AsyncClient() as client:
                health = await client.get(f"{url}/healthz")
        finally:
            uvicorn_log.removeHandler(caplog.handler)
    assert health.status_code == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


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


async def test_headers_past_their_bound_are_a_431_and_the_connection_closes(
    tmp_path: Path,
) -> None:
    process, url = serve(["--store", "memory"], tmp_path)
    try:
        await wait_healthy(url)
        port = int(url.rsplit(":", 1)[1])
        written = await asyncio.to_thread(_send_huge_header, port)
        pipelined = await asyncio.to_thread(_pipelined, port)
        async with httpx.AsyncClient(timeout=5) as client:
            cookie = await client.get(f"{url}/healthz", headers={"cookie": "c" * 32_000})
    finally:
        process.terminate()
        process.communicate(timeout=30)
    sent, answer = written
    assert sent < 10  # refused within a few writes, not buffered
    if answer:  # else the server's close reset the connection before it was read
        assert answer.startswith(b"HTTP/1.1 431") and b"HEADERS_TOO_LARGE" in answer
    assert cookie.status_code == 200  # headers a browser sends are far under the bound
    # A read holding a large body and the next request's start is no large header.
    assert pipelined.startswith(b"HTTP/1.1 415") and b"HTTP/1.1 200" in pipelined
    assert b"431" not in pipelined


def _send_huge_header(port: int) -> tuple[int, bytes]:
    """A header that never ends, in 64 kB writes, until the server answers or
    closes: (the writes it took, the answer; empty if a reset came first)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: ")
        sock.settimeout(10)
        for sent in range(1, 1_001):  # 64 MB at most
            try:
                sock.sendall(b"a" * 65_536)
                if select.select([sock], [], [], 0.02)[0]:
                    return sent, sock.recv(4096)
            except OSError:
                return sent, b""
        return sent, b""


def _pipelined(port: int) -> bytes:
    """A POST with a 100 kB body and, in the same write, a GET's first bytes."""
    body = b"x" * 100_000
    first = b"POST /agents/demo HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: text/plain\r\n"
    first += b"content-length: %d\r\n\r\n%s" % (len(body), body)
    second = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        sock.sendall(first + second[:10])  # the next request's headers not yet done
        time.sleep(0.2)
        sock.sendall(second[10:])
        answer = b""
        while chunk := sock.recv(65_536):
            answer += chunk
        return answer


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


FLOOD = """
import asyncio

from langgraph.config import get_stream_writer
from langgraph.graph import START, MessagesState, StateGraph


async def flood(state: MessagesState) -> dict:
    write = get_stream_writer()
    for n in range(400):
        write({"name": "chunk", "value": "x" * 50_000})
        await asyncio.sleep(0.005)
    return {}


builder = StateGraph(MessagesState)
builder.add_node("flood", flood)
builder.add_edge(START, "flood")
graph = builder.compile()
"""


async def test_a_client_that_stops_reading_is_dropped_and_shutdown_completes(
    tmp_path: Path,
) -> None:
    (tmp_path / "flood.py").write_text(FLOOD)
    env = {"GRAPHWIRE_SEND_TIMEOUT_SECONDS": "1"}
    process, url = serve(["--store", "memory", "flood.py:graph"], tmp_path, env)
    port = int(url.rsplit(":", 1)[1])
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        await wait_healthy(url)
        await asyncio.sleep(0.5)  # the health check's connection is gone
        before = _sockets_of(process.pid)
        stalled.connect(("127.0.0.1", port))
        body = json.dumps(run_body(thread="f", run="f1", forwardedProps={})).encode()
        head = (
            f"POST /agents/graph HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json"
            f"\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        stalled.sendall(head + body)
        await asyncio.sleep(1)
        held = _sockets_of(process.pid)
        await asyncio.sleep(3)  # the client reads nothing, well past the send timeout
        after = _sockets_of(process.pid)
        async with httpx.AsyncClient(timeout=5) as client:
            healthy = (await client.get(f"{url}/healthz")).status_code
        process.terminate()
        await asyncio.to_thread(process.wait, 15)  # within the shutdown grace, not never
    finally:
        stalled.close()
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
    # The server let go of the connection (and its buffer) while the client
    # still holds it open without reading.
    assert held == before + 1 and after == before and healthy == 200


def _sockets_of(pid: int) -> int:
    """How many sockets the process holds open."""
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))
