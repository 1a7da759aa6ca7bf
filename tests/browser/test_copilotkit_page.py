"""examples/copilotkit in a real headless browser: the CopilotKit page, its
runtime and graphwire's demo agent, all real processes on 127.0.0.1, used as a
person would (``page.mjs``). Run by scripts/test-browser, which installs
Chromium and builds the app first."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.harness import run_node
from tests.processes import clean_env, free_port, serve, wait_healthy_sync

HERE = Path(__file__).parent
APP = HERE.parents[1] / "examples" / "copilotkit"
ARTIFACTS = HERE / "artifacts"
READY = (APP / ".next" / "BUILD_ID").is_file() and (HERE / "node_modules").is_dir()
if not READY and os.environ.get("BROWSER_REQUIRED") == "1":
    raise RuntimeError("the example is not built: run scripts/test-browser")
pytestmark = pytest.mark.skipif(not READY, reason="run scripts/test-browser (builds the app)")


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    """graphwire's demo and the built page; the page server's output goes to
    ``tmp_path / "next.log"``."""
    agent, agent_url = serve([], tmp_path)
    port = free_port()
    env = clean_env(
        {
            "AGENT_SERVER_URL": agent_url,
            "NEXT_TELEMETRY_DISABLED": "1",
            "COPILOTKIT_TELEMETRY_DISABLED": "true",
        }
    )
    log = (tmp_path / "next.log").open("w")
    app = subprocess.Popen(
        [str(APP / "node_modules" / ".bin" / "next"), "start", "-p", str(port), "-H", "127.0.0.1"],
        cwd=APP,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy_sync(agent_url, agent)
        _wait_for_page(url, app)
        yield url
    finally:
        for process in (app, agent):
            stop(process)
        log.close()


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def _wait_for_page(url: str, app: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise RuntimeError(f"next start exited with {app.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up")


async def test_a_person_uses_the_copilotkit_page(app_url: str, tmp_path: Path) -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    result = await run_node(HERE / "page.mjs", app_url, str(ARTIFACTS), cwd=HERE, timeout=240)
    assert result["failedStep"] is None, f"{result} (screenshots in {ARTIFACTS})"
    seen = result["seen"]
    assert "it is sunny in Paris" in seen["weatherCard"]
    assert "The user wants the weather" in seen["reasoning"]
    assert "Deploy to staging?" in seen["approval"]
    assert "deploy to staging" in seen["taskTitle"].lower()
    assert "done" in seen["taskDone"] and "deployed to staging" in seen["taskDone"]
    assert seen["state"]["turns"] >= 4
    assert result["consoleErrors"] == [], result["consoleErrors"]
    server_log = (tmp_path / "next.log").read_text()
    assert "rror" not in server_log, server_log  # the page's server side: no error either
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # kept only when the test fails
