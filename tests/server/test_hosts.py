"""DNS rebinding: a request naming a host this server does not serve is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from graphwire.server import Agent, ServerOptions
from graphwire.server._hosts import host_of
from tests.graphs import agent_graph
from tests.processes import serve, wait_healthy
from tests.server.conftest import live_server


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("LocalHost", "localhost"),
        ("::1", "::1"),
        ("app.example", "app.example"),
    ],
)
def test_the_host_part_of_a_host_header(header: str, host: str) -> None:
    assert host_of(header) == host


async def test_only_the_hosts_served_are_answered(client: httpx.AsyncClient) -> None:
    options = ServerOptions(allowed_hosts=["127.0.0.1", "localhost"])
    async with live_server([Agent("chat", agent_graph([]))], options) as url:
        port = url.rsplit(":", 1)[1]
        rebound = await client.get(f"{url}/agents", headers={"Host": f"attacker.example:{port}"})
        local = await client.get(f"{url}/agents", headers={"Host": f"localhost:{port}"})
        direct = await client.get(f"{url}/agents")
    assert rebound.status_code == 400 and rebound.json()["code"] == "HOST_NOT_ALLOWED"
    assert local.status_code == 200 and direct.status_code == 200


async def test_a_second_host_header_is_refused() -> None:
    """Starlette builds URLs from the first Host header, so each must be checked."""
    options = ServerOptions(allowed_hosts=["127.0.0.1"])
    async with live_server([Agent("chat", agent_graph([]))], options) as url:
        host, port = url.removeprefix("http://").split(":")
        answers = []
        for first in (b"attacker.example", b"127.0.0.1"):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                b"GET /agents HTTP/1.1\r\nHost: " + first + b"\r\n"
                b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            answers.append(await reader.read())
            writer.close()
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 400") and b"HOST_NOT_ALLOWED" in answer
        assert b"attacker" not in answer


async def test_graphwire_serve_answers_its_own_host_and_loopback_by_default(
    tmp_path: Path,
) -> None:
    process, url = serve(
        ["--store", "memory"], tmp_path, {"GRAPHWIRE_ALLOWED_HOSTS": "app.example"}
    )
    try:
        await wait_healthy(url)
        async with httpx.AsyncClient(timeout=10) as client:
            answers = {
                host: (await client.get(f"{url}/tasks", headers={"Host": host})).status_code
                for host in ("attacker.example", "localhost", "app.example:443", "127.0.0.1")
            }
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert answers == {
        "attacker.example": 400,
        "localhost": 200,
        "app.example:443": 200,
        "127.0.0.1": 200,
    }
