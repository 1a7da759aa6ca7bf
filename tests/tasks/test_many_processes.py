"""Several real ``graphwire serve`` processes on one PostgreSQL database: a
task enqueued on one runs on another, a process killed mid-task leaves its
tasks to the others (each finished exactly once), and many tasks across four
processes each run exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from ag_ui.core import RunErrorEvent, RunFinishedEvent

from graphwire.tasks import PostgresTaskStore, TaskQuery, TaskSpec, TaskState
from tests.processes import serve_many, wait_healthy
from tests.server.conftest import run_body
from tests.tasks.graphs import logged_runs
from tests.tasks.test_crash import AGENT as SLOW_AGENT
from tests.tasks.test_crash import check_task, until

QUICK_AGENT = Path(__file__).with_name("quick_agent.py")
APPROVE_AGENT = Path(__file__).with_name("approve_agent.py")
CHAT_AGENT = Path(__file__).parents[1] / "chat" / "agent.py"


def servers(
    url: str, cwd: Path, spec: str, settings: list[dict[str, str]]
) -> contextlib.AbstractContextManager[list[tuple[subprocess.Popen[str], str]]]:
    """One ``graphwire serve --store URL SPEC`` per settings."""
    return serve_many(["--store", url, spec], cwd, settings)


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[PostgresTaskStore]:
    store = await PostgresTaskStore.open(url)
    try:
        yield store
    finally:
        await store.aclose()


async def test_a_task_enqueued_on_one_process_runs_on_another(
    postgres_url: str, tmp_path: Path
) -> None:
    api_only = {"GRAPHWIRE_TASK_WORKERS": "0"}
    with servers(postgres_url, tmp_path, f"quick={QUICK_AGENT}:graph", [api_only, {}]) as procs:
        (_, a), (_, b) = procs
        await wait_healthy(a)
        await wait_healthy(b)
        async with httpx.AsyncClient(timeout=30) as http:
            created = (await http.post(f"{a}/agents/quick/tasks", json={"prompt": "hi"})).json()

            async def done_on_a() -> bool:
                task = (await http.get(f"{a}/tasks/{created['taskId']}")).json()
                return bool(task["state"] == "done")

            await until(30, done_on_a)  # A runs no task: B did
            task = (await http.get(f"{a}/tasks/{created['taskId']}")).json()
            on_a = (await http.get(f"{a}/tasks/{created['taskId']}/events")).text
            on_b = (await http.get(f"{b}/tasks/{created['taskId']}/events")).text
    assert task["result"] == "done: hi" and len(task["runIds"]) == 1
    assert on_a == on_b and "RUN_FINISHED" in on_a  # one log, served by either


async def test_a_process_killed_mid_task_leaves_it_to_another_which_finishes_it_once(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = {"GRAPHWIRE_TASK_LEASE_SECONDS": "1", "GRAPHWIRE_TASK_WORKERS": "3"}
    spec = f"slow={SLOW_AGENT}:graph"
    async with opened(postgres_url) as store:
        with servers(postgres_url, tmp_path, spec, [settings, settings]) as procs:
            (killed, a), (_, b) = procs
            await wait_healthy(a)
            await wait_healthy(b)
            tasks = [
                await store.create(TaskSpec(agent="slow", prompt=f"job {n}")) for n in range(16)
            ]

            async def some_mid_run() -> bool:
                # Four runs under way with events logged: with three workers a
                # process, at least one of them is the killed process's.
                running = 0
                for task in tasks:
                    if (await store.get(task.id)).state is TaskState.ONGOING:
                        running += bool(await store.read_events(task.id, limit=1))
                return running >= 4

            await until(60, some_mid_run)
            killed.send_signal(signal.SIGKILL)
            killed.communicate(timeout=30)
            before = {t.id: await store.read_events(t.id) for t in tasks}

            async def all_done() -> bool:
                page = await store.list_tasks(TaskQuery(limit=100))
                return all(t.state is TaskState.DONE and t.lease_owner is None for t in page.tasks)

            await until(120, all_done)
        cut = 0
        for task in tasks:
            await check_task(store, await store.get(task.id), before[task.id])
            runs = await logged_runs(store, task.id)
            if len(runs) == 2:
                cut += 1
                assert isinstance(runs[0][-1], RunErrorEvent) and runs[0][-1].code == "WORKER_LOST"
                assert isinstance(runs[1][-1], RunFinishedEvent)
        assert cut >= 1  # the kill cut a run that the other process then finished


async def test_many_tasks_across_four_processes_each_run_exactly_once(
    postgres_url: str, tmp_path: Path
) -> None:
    count = 1000
    spec = f"quick={QUICK_AGENT}:graph"
    async with opened(postgres_url) as store:
        with servers(postgres_url, tmp_path, spec, [{"GRAPHWIRE_TASK_WORKERS": "4"}] * 4) as procs:
            for _, url in procs:
                await wait_healthy(url)
            created = await asyncio.gather(
                *(store.create(TaskSpec(agent="quick", prompt=f"job {n}")) for n in range(count))
            )

            async def all_done() -> bool:
                page = await store.list_tasks(TaskQuery(limit=count + 1))
                return sum(t.state is TaskState.DONE for t in page.tasks) == count

            await until(300, all_done)
        page = await store.list_tasks(TaskQuery(limit=count + 1))
        assert len(page.tasks) == count
        for task in page.tasks:
            assert task.attempt == 1 and len(task.run_ids) == 1  # claimed once, run once
        results = sorted(t.result for t in page.tasks)
        assert results == sorted(f"done: job {n}" for n in range(count))
        sample = created[:: count // 20]
        for task in sample:
            [run] = await logged_runs(store, task.id)
            assert isinstance(run[-1], RunFinishedEvent)


def _body(thread: str, text: str | None, **extra: Any) -> dict[str, Any]:
    """A 1.0 RunAgentInput with a new run id; ``text`` None sends no new message
    (a resume)."""
    body = run_body(thread, str(uuid.uuid4()), text or "", protocolVersion="1.0", **extra)
    if text is None:
        body["messages"] = []
    return body


async def test_one_thread_driven_through_two_processes_at_once_runs_once(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {"AGENT_ACTIONS_FILE": str(tmp_path / "actions")}
    spec = f"agent={APPROVE_AGENT}:graph"
    with servers(postgres_url, tmp_path, spec, [env, env]) as procs:
        (_, a), (_, b) = procs
        await wait_healthy(a)
        await wait_healthy(b)
        async with httpx.AsyncClient(timeout=30) as http:

            async def drive(thread: str) -> list[int]:
                both = await asyncio.gather(
                    http.post(f"{a}/agents/agent", json=_body(thread, f"slow from A {thread}")),
                    http.post(f"{b}/agents/agent", json=_body(thread, f"slow from B {thread}")),
                )
                return sorted(r.status_code for r in both)

            threads = [f"t{n}" for n in range(10)]
            outcomes = await asyncio.gather(*(drive(t) for t in threads))
            views = [(await http.get(f"{b}/agents/agent/threads/{t}")).json() for t in threads]
    assert outcomes == [[200, 409]] * len(threads)  # one ran, one was THREAD_BUSY
    for view in views:  # the run that ran kept all it wrote
        texts = [m["content"] for m in view["messages"]]
        assert len(texts) == 2 and texts[1] == f"slowly: {texts[0]}"


async def test_one_interrupt_resumed_through_two_processes_at_once_acts_once(
    postgres_url: str, tmp_path: Path
) -> None:
    actions = tmp_path / "actions"
    env = {"AGENT_ACTIONS_FILE": str(actions)}
    spec = f"agent={APPROVE_AGENT}:graph"
    with servers(postgres_url, tmp_path, spec, [env, env]) as procs:
        (_, a), (_, b) = procs
        await wait_healthy(a)
        await wait_healthy(b)
        threads = [f"t{n}" for n in range(10)]
        async with httpx.AsyncClient(timeout=30) as http:
            pending = {}
            for thread in threads:
                await http.post(f"{a}/agents/agent", json=_body(thread, f"deploy {thread}"))
                view = (await http.get(f"{a}/agents/agent/threads/{thread}")).json()
                [waiting] = view["interrupts"]
                pending[thread] = waiting["id"]

            async def resume_twice(thread: str) -> list[httpx.Response]:
                answer = [{"interruptId": pending[thread], "status": "resolved", "payload": "yes"}]
                return list(
                    await asyncio.gather(
                        http.post(f"{a}/agents/agent", json=_body(thread, None, resume=answer)),
                        http.post(f"{b}/agents/agent", json=_body(thread, None, resume=answer)),
                    )
                )

            answers = await asyncio.gather(*(resume_twice(t) for t in threads))
    ran = sorted(line.split()[1] for line in actions.read_text().splitlines())
    assert ran == sorted(threads)  # the code after interrupt() ran once per thread
    for pair in answers:
        assert sorted(r.status_code for r in pair) == [200, 409]


async def test_a_cancel_sent_to_another_process_stops_the_run(
    postgres_url: str, tmp_path: Path
) -> None:
    spec = f"chat={CHAT_AGENT}:graph"  # "slow" streams a word every 0.3 s for a minute
    with servers(postgres_url, tmp_path, spec, [{}, {}]) as procs:
        (_, a), (_, b) = procs
        await wait_healthy(a)
        await wait_healthy(b)
        body = _body("t1", "slow")
        async with httpx.AsyncClient(timeout=30) as http:
            missing = await http.post(f"{b}/runs/no-such-run/cancel")
            async with http.stream("POST", f"{a}/agents/chat", json=body) as streamed:
                lines = streamed.aiter_lines()
                async for line in lines:
                    if "TEXT_MESSAGE_CONTENT" in line:  # it is running, on A
                        break
                cancelled = await http.post(f"{b}/runs/{body['runId']}/cancel")
                rest = [line async for line in lines]

            async def ended() -> bool:  # A's claim goes once the store has the run's end
                again = await http.post(f"{b}/runs/{body['runId']}/cancel")
                return again.status_code == 409 and again.json()["code"] == "RUN_ENDED"

            await until(10, ended)
    assert missing.status_code == 404
    assert cancelled.status_code == 202
    finished = [line for line in rest if '"RUN_FINISHED"' in line]
    assert len(finished) == 1 and '"cancelled"' in finished[0]
    assert not any("word 200" in line for line in rest)  # stopped, not run to its end
