"""Every run's log is durable (docs/adr/0012-durable-run-logs.md), on real
``graphwire serve`` processes: a run started on one process is re-attached on
another with Last-Event-ID, every event once; a restart of every process keeps
every run's log (and an interrupted run resumes under its id, numbered on); a
run whose process was killed ends RUN_ERROR ``WORKER_LOST`` for whoever
re-attaches. On SQLite (one process per file) and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.processes import serve_many, wait_healthy
from tests.server.conftest import run_body

AGENT = Path(__file__).parents[1] / "chat" / "agent.py"
SPEC = f"chat={AGENT}:graph"
CONTINUE = {"graphwire": {"onDisconnect": "continue"}}
Frames = list[tuple[int, str]]


class Stores:
    """How a test starts ``graphwire serve`` processes on one store."""

    def __init__(self, kind: str, url: str | None, cwd: Path) -> None:
        self.kind = kind
        self.cwd = cwd
        self._args = [SPEC] if url is None else ["--store", url, SPEC]
        self._env = {"GRAPHWIRE_DATA_DIR": str(cwd / "data")} if url is None else {}

    def serve(
        self, count: int, **settings: str
    ) -> AbstractContextManager[list[tuple[subprocess.Popen[str], str]]]:
        env = {**self._env, **{f"GRAPHWIRE_{k.upper()}": v for k, v in settings.items()}}
        return serve_many(self._args, self.cwd, [env] * count)


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    return Stores(request.param, url, tmp_path)


async def sse(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    stop_after: int | None = None,
    after: int | None = None,
    **kwargs: Any,
) -> Frames:
    """(id, data) of each event; the connection dropped after ``stop_after``."""
    headers = {} if after is None else {"Last-Event-ID": str(after)}
    got: Frames = []
    async with aconnect_sse(http, method, url, headers=headers, **kwargs) as source:
        source.response.raise_for_status()
        async for event in source.aiter_sse():
            if not event.data:
                continue  # a keepalive comment
            got.append((int(event.id), event.data))
            if stop_after is not None and len(got) >= stop_after:
                break
    return got


def types(frames: Frames) -> list[str]:
    return [json.loads(data)["type"] for _, data in frames]


def numbered(frames: Frames, first: int = 1) -> bool:
    return [seq for seq, _ in frames] == list(range(first, first + len(frames)))


async def test_a_run_started_on_one_process_is_reattached_on_another_every_event_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL (one process per SQLite file: docs/adr/0011-postgresql-store.md)."""
    with Stores("postgres", postgres_url, tmp_path).serve(2) as procs:
        (_, a), (_, b) = procs
        await wait_healthy(a)
        await wait_healthy(b)
        run = run_body("t1", f"r-{uuid.uuid4()}", "count 40", forwardedProps=CONTINUE)
        events = f"/runs/{run['runId']}/events"
        async with httpx.AsyncClient(timeout=30) as http:
            head = await sse(http, "POST", f"{a}/agents/chat", json=run, stop_after=8)
            # The connection to A dropped (a reload); the load balancer sends the
            # client to B, which names the thread's active run and tails it.
            thread = (await http.get(f"{b}/agents/chat/threads/t1")).json()
            tail = await sse(http, "GET", f"{b}{events}", after=head[-1][0])
            whole = await sse(http, "GET", f"{a}{events}")
            async with asyncio.timeout(5):  # the claim goes once the run's end is stored
                while (await http.get(f"{b}/agents/chat/threads/t1")).json()["activeRunId"]:
                    await asyncio.sleep(0.02)
    assert thread["activeRunId"] == run["runId"]
    assert numbered(head + tail)
    assert head + tail == whole
    assert types(tail).count("RUN_FINISHED") == 1 and types(tail)[-1] == "RUN_FINISHED"
    text = "".join(json.loads(d).get("delta", "") for _, d in whole if "TEXT_MESSAGE_CONTENT" in d)
    assert text == "".join(f"word {n} " for n in range(1, 41))


async def test_a_restart_of_every_process_keeps_every_runs_log(stores: Stores) -> None:
    count = 2 if stores.kind == "postgres" else 1
    runs = {
        f"r-{n}-{uuid.uuid4()}": (f"t{n}", text) for n, text in enumerate(["count 5", "deploy"])
    }
    logged: dict[str, Frames] = {}
    async with httpx.AsyncClient(timeout=30) as http:
        with stores.serve(count) as procs:
            urls = [url for _, url in procs]
            for url in urls:
                await wait_healthy(url)
            for n, (run_id, (thread, text)) in enumerate(runs.items()):
                body = run_body(thread, run_id, text)
                logged[run_id] = await sse(
                    http, "POST", f"{urls[n % count]}/agents/chat", json=body
                )
        with stores.serve(count) as procs:  # every process stopped, new ones started
            urls = [url for _, url in procs]
            for url in urls:
                await wait_healthy(url)
            for run_id in runs:
                for url in urls:
                    assert await sse(http, "GET", f"{url}/runs/{run_id}/events") == logged[run_id]
            asked, (thread, _) = next((r, v) for r, v in runs.items() if v[1] == "deploy")
            # CopilotKit resumes an interrupted run under its own id: the log goes on.
            resume = run_body(thread, asked, "", forwardedProps={"command": {"resume": "yes"}})
            resume["messages"] = []
            resumed = await sse(http, "POST", f"{urls[-1]}/agents/chat", json=resume)
            again = await sse(http, "GET", f"{urls[0]}/runs/{asked}/events")
    assert types(logged[asked])[-1] == "RUN_FINISHED"
    assert numbered(resumed, first=len(logged[asked]) + 1)
    assert again == logged[asked] + resumed
    assert any("deploy answer: yes" in data for _, data in resumed)


async def test_a_run_whose_process_was_killed_ends_worker_lost_on_reattach(
    stores: Stores,
) -> None:
    """PostgreSQL: another process's reader closes it once the dead process's
    thread claim lapses; SQLite: the next process closes it on first read."""
    count = 2 if stores.kind == "postgres" else 1
    quick = {"task_lease_seconds": "1", "keepalive_seconds": "0.5"}
    run = run_body("t1", f"r-{uuid.uuid4()}", "slow", forwardedProps=CONTINUE)
    events = f"/runs/{run['runId']}/events"
    async with httpx.AsyncClient(timeout=30) as http:
        with stores.serve(count, **quick) as procs:
            for _, url in procs:
                await wait_healthy(url)
            (killed, a) = procs[0]
            head = await sse(http, "POST", f"{a}/agents/chat", json=run, stop_after=10)
            if count > 1:  # B reads past what the client saw: the store has it
                await sse(http, "GET", f"{procs[1][1]}{events}", after=head[-1][0], stop_after=1)
            else:  # a batch is saved within 50 ms
                await asyncio.sleep(0.5)
            killed.send_signal(signal.SIGKILL)
            killed.wait(10)
            if count > 1:
                tail = await sse(http, "GET", f"{procs[1][1]}{events}", after=head[-1][0])
        if count == 1:
            with stores.serve(1, **quick) as procs:
                await wait_healthy(procs[0][1])
                tail = await sse(http, "GET", f"{procs[0][1]}{events}", after=head[-1][0])
    assert numbered(head + tail)
    kinds = types(tail)
    assert kinds[-3:] == ["TEXT_MESSAGE_END", "STEP_FINISHED", "RUN_ERROR"]  # what was open
    assert json.loads(tail[-1][1])["code"] == "WORKER_LOST"
    assert "RUN_FINISHED" not in kinds
