"""The graphwire command, run as users run it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from psycopg.conninfo import conninfo_to_dict

from graphwire.cli import main
from graphwire.server._build import LOCK_FILE, SQLITE_FILE
from tests.processes import GRAPHWIRE, clean_env, free_port, serve, wait_healthy
from tests.server.conftest import read_events, run_body


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GRAPHWIRE, *args],
        cwd=cwd,
        env=clean_env(env),
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
    assert f"port = 9001  # file {tmp_path / 'graphwire.toml'}: port to bind" in lines
    assert "api_key = ***  # env: require Authorization: Bearer <key>" in lines
    assert 'host = "127.0.0.1"  # default: interface to bind' in lines


def test_bad_config_and_bad_spec_exit_2(tmp_path: Path) -> None:
    bad = run_cli("config", cwd=tmp_path, env={"GRAPHWIRE_PORT": "x"})
    assert bad.returncode == 2 and "GRAPHWIRE_PORT" in bad.stderr
    missing = run_cli("serve", "nowhere.py:graph", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


@pytest.mark.parametrize("extra", [[], ["--reload"]], ids=["plain", "reload"])
async def test_serve_with_no_spec_serves_the_demo(tmp_path: Path, extra: list[str]) -> None:
    process, url = serve(extra, tmp_path)
    try:
        await wait_healthy(url)
        async with httpx.AsyncClient(timeout=10) as client:
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


SLOW_AGENT = """
import asyncio
from langgraph.graph import START, MessagesState, StateGraph


async def wait(state: MessagesState) -> dict:
    await asyncio.sleep(600)
    return {}


builder = StateGraph(MessagesState)
builder.add_node(wait)
builder.add_edge(START, "wait")
graph = builder.compile()
"""


async def test_sigterm_stops_streaming_runs_instead_of_waiting_for_them(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW_AGENT)
    process, url = serve(["slow.py:graph", "--store", "memory"], tmp_path)
    try:
        await wait_healthy(url)
        async with httpx.AsyncClient(timeout=30) as client:
            started = asyncio.Event()

            async def read() -> list[str]:
                types: list[str] = []
                async with client.stream("POST", f"{url}/agents/graph", json=run_body()) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: "):
                            types.append(json.loads(line[6:])["type"])
                            started.set()
                        if line.startswith("data: ") and '"outcome"' in line:
                            types.append(json.loads(line[6:])["outcome"]["type"])
                return types

            reading = asyncio.create_task(read())
            async with asyncio.timeout(30):
                await started.wait()
                process.terminate()
                types = await reading
        # uvicorn re-raises the signal once it has shut down.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert types[0] == "RUN_STARTED" and types[-2:] == ["RUN_FINISHED", "cancelled"]


STUCK_AGENT = SLOW_AGENT.replace(
    "    await asyncio.sleep(600)\n",
    """    while True:  # a retry loop that takes a cancel for one more failure
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:
            pass
""",
)


async def test_ctrl_c_ends_a_shutdown_that_something_holds_past_its_grace(
    tmp_path: Path,
) -> None:
    """A node that ignores every cancel held the process for good after Ctrl-C
    (the event loop's close waits for each task it cancels). Past the grace
    (2 s here) and a second, it exits at once, saying so."""
    (tmp_path / "stuck.py").write_text(STUCK_AGENT)
    env = {"GRAPHWIRE_SHUTDOWN_GRACE_SECONDS": "2"}
    with (tmp_path / "server.log").open("w") as log:
        process, url = serve(["stuck.py:graph", "--store", "memory"], tmp_path, env, log=log)
        try:
            await wait_healthy(url)
            async with httpx.AsyncClient(timeout=30) as client:
                started = asyncio.Event()

                async def read() -> None:
                    async with client.stream("POST", f"{url}/agents/graph", json=run_body()) as r:
                        async for line in r.aiter_lines():
                            if "RUN_STARTED" in line:
                                started.set()

                reading = asyncio.create_task(read())
                async with asyncio.timeout(30):
                    await started.wait()
                await asyncio.sleep(1)  # the node is in its loop
                loop = asyncio.get_running_loop()
                began = loop.time()
                process.send_signal(signal.SIGINT)
                await asyncio.to_thread(process.wait, 30)
                took = loop.time() - began
                await asyncio.gather(reading, return_exceptions=True)
        finally:
            process.kill()
            process.wait(timeout=30)
    logged = (tmp_path / "server.log").read_text()
    assert took < 2 + 1 + 1.5, f"{took:.1f} s\n{logged[-2000:]}"
    assert "the shutdown took longer than its grace (2.0 s); exiting now" in logged


def test_chat_with_a_server_that_cannot_start_exits_2_saying_so(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    done = run_cli(
        "chat", "--store", "sqlite", cwd=tmp_path, env={"GRAPHWIRE_DATA_DIR": str(blocked / "x")}
    )
    assert done.returncode == 2
    assert "graphwire: the in-process server did not start" in done.stderr


def test_a_postgresql_store_is_a_url_and_its_password_is_not_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://app:s3cret@db.internal/graphwire"
    env = {"GRAPHWIRE_STORE": "postgres", "GRAPHWIRE_STORE_URL": url}
    shown = run_cli("config", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert 'store_url = "postgresql://app:***@db.internal/graphwire"' in shown.stdout
    assert "s3cret" not in shown.stdout
    with pytest.raises(SystemExit) as bad:
        main(["serve", "--store", "mysql://x"])
    assert bad.value.code == 2
    assert "sqlite, memory or a postgresql:// URL" in capsys.readouterr().err


def test_a_postgresql_store_that_cannot_be_used_is_one_line_at_start(
    tmp_path: Path, postgres_admin: str
) -> None:
    """Down, or no such database: refused before it says it serves, with the
    database's own reason, not a lifespan traceback half a minute later."""
    admin = conninfo_to_dict(postgres_admin)  # a unix socket: host is its folder
    port = f"&port={admin['port']}" if admin.get("port") else ""
    missing = f"postgresql://{admin['user']}@/no_such_db?host={admin['host']}{port}"
    down = f"postgresql://app:s3cret@127.0.0.1:{free_port()}/graphwire"
    for url, reason in ((missing, '"no_such_db" does not exist'), (down, "127.0.0.1")):
        refused = run_cli("serve", "--port", str(free_port()), "--store", url, cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert "the PostgreSQL store cannot be used" in refused.stderr
        assert reason in refused.stderr
        assert "Traceback" not in refused.stderr
        assert "agent 'demo' at" not in refused.stdout
        assert "s3cret" not in refused.stderr
    malformed = "postgresql://app:s3%zzcret@127.0.0.1/graphwire"  # libpq would quote it
    refused = run_cli("serve", "--port", str(free_port()), "--store", malformed, cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "URL cannot be parsed" in refused.stderr
    assert "s3" not in refused.stderr and "Traceback" not in refused.stderr


async def test_a_second_process_on_one_sqlite_data_directory_is_refused(tmp_path: Path) -> None:
    first, url = serve([], tmp_path)
    try:
        await wait_healthy(url)
        second = run_cli("serve", "--port", str(free_port()), cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        assert "another graphwire process (pid " in second.stderr
        assert "share PostgreSQL" in second.stderr
        assert "Traceback" not in second.stderr  # refused before it says it serves
        assert "agent 'demo' at" not in second.stdout
        assert (await asyncio.to_thread(httpx.get, f"{url}/readyz")).status_code == 200
        (tmp_path / ".graphwire" / LOCK_FILE).unlink()  # the directory stays locked
        again = run_cli("serve", "--port", str(free_port()), cwd=tmp_path)
        assert again.returncode == 2 and "another graphwire process" in again.stderr
        # As the refusal says: a data directory of its own serves beside it.
        other, other_url = serve(["--data-dir", "other"], tmp_path)
        try:
            await wait_healthy(other_url)
            assert (await asyncio.to_thread(httpx.get, f"{other_url}/readyz")).status_code == 200
            assert (tmp_path / "other" / SQLITE_FILE).exists()
        finally:
            other.terminate()
            other.communicate(timeout=30)
    finally:
        first.terminate()
        first.communicate(timeout=30)
    again, url = serve([], tmp_path)  # the lock went with the first process
    try:
        await wait_healthy(url)
    finally:
        again.terminate()
        again.communicate(timeout=30)
