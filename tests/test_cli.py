"""The graphwire command, run as users run it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import read_events, run_body

GRAPHWIRE = [sys.executable, "-m", "graphwire.cli"]


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHWIRE_")}
    full_env.update(env or {})
    return subprocess.run(
        [*GRAPHWIRE, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_prints_every_value_with_its_source(tmp_path: Path) -> None:
    (tmp_path / "graphwire.toml").write_text("port = 9001\n")
    result = run_cli("config", cwd=tmp_path, env={"GRAPHWIRE_API_KEY": "k"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"port = 9001  # file {tmp_path / 'graphwire.toml'}" in lines
    assert "api_key = ***  # env" in lines
    assert 'host = "127.0.0.1"  # default' in lines


def test_bad_config_and_bad_spec_exit_2(tmp_path: Path) -> None:
    bad = run_cli("config", cwd=tmp_path, env={"GRAPHWIRE_PORT": "x"})
    assert bad.returncode == 2 and "GRAPHWIRE_PORT" in bad.stderr
    missing = run_cli("serve", "nowhere.py:graph", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("extra", [[], ["--reload"]], ids=["plain", "reload"])
async def test_serve_with_no_spec_serves_the_demo(tmp_path: Path, extra: list[str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*GRAPHWIRE, "serve", "--port", str(port), "--log-level", "warning", *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=10) as client:
            async with asyncio.timeout(30):
                while True:
                    try:
                        if (await client.get(f"{url}/healthz")).status_code == 200:
                            break
                    except httpx.ConnectError:
                        await asyncio.sleep(0.1)
            _, events = await read_events(
                client, "POST", f"{url}/agents/demo", json=run_body(text="weather in Oslo")
            )
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert f"agent 'demo' at {url}/agents/demo" in out
    text = "".join(getattr(e, "delta", "") for e in events if e.type == "TEXT_MESSAGE_CONTENT")
    assert "sunny in Oslo" in text
    assert (tmp_path / ".graphwire" / "graphwire.sqlite").is_file()
