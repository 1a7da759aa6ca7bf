"""Real ``graphwire`` processes for tests: start, wait until healthy, free ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

GRAPHWIRE = [sys.executable, "-m", "graphwire.cli"]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without GRAPHWIRE_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHWIRE_")}
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, log: IO[str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``graphwire serve`` on a free port; returns the process and its base URL.
    Its output goes to pipes, or to ``log`` (a server that logs much would fill a
    pipe nobody reads, and block)."""
    port = free_port()
    process = subprocess.Popen(
        [*GRAPHWIRE, "serve", "--port", str(port), "--log-level", "warning", *args],
        cwd=cwd,
        env=clean_env(env),
        stdout=log or subprocess.PIPE,
        stderr=log or subprocess.PIPE,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serve_many(
    args: list[str], cwd: Path, settings: list[dict[str, str]]
) -> Iterator[list[tuple[subprocess.Popen[str], str]]]:
    """One ``graphwire serve ARGS`` per entry of ``settings`` (its environment),
    each on a port of its own and logging to ``cwd/server-N.log``; all stopped
    on exit."""
    started = []
    with contextlib.ExitStack() as logs:
        try:
            for n, extra in enumerate(settings):
                log = logs.enter_context((cwd / f"server-{n}.log").open("w"))
                started.append(serve(args, cwd, extra, log=log))
            yield started
        finally:
            for process, _ in started:
                if process.poll() is None:
                    process.terminate()
                process.communicate(timeout=30)


async def wait_healthy(url: str, seconds: float = 30) -> None:
    async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(seconds):
        while True:
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.ConnectError:
                await asyncio.sleep(0.1)


def wait_healthy_sync(url: str, process: subprocess.Popen[str], seconds: float = 30) -> None:
    """``wait_healthy`` outside an event loop; fails at once, with its stderr, if
    the server process exits."""
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"graphwire exited: {process.communicate()[1]}")
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.ConnectError:
                time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy after {seconds} s")
