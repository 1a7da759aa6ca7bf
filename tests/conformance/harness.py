"""Run one scenario of a conformance script (the official Node client) against
a live graphwire server, and read back the JSON it prints."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from graphwire.server import Agent
from tests.server.conftest import live_server

HERE = Path(__file__).parent
INSTALLED = (HERE / "node_modules" / "@ag-ui" / "client").is_dir() and shutil.which("node")
if not INSTALLED and os.environ.get("CONFORMANCE_REQUIRED") == "1":
    raise RuntimeError("the conformance client is not installed: run scripts/test (npm ci)")
needs_node_client = pytest.mark.skipif(
    not INSTALLED, reason="run scripts/test: it installs the conformance client with npm ci"
)


async def run_node(
    script: Path, *args: str, cwd: Path = HERE, timeout: float = 60
) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


async def run_scenario(
    script: str, name: str, agents: Sequence[Agent], **app_args: Any
) -> dict[str, Any]:
    async with live_server(agents, None, **app_args) as url:
        return await run_node(HERE / script, name, url)
