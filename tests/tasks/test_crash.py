"""kill -9 a real server mid-run, restart it on the same SQLite file: nothing is
lost, nothing runs twice, every task log stays a valid AG-UI sequence."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from ag_ui.core import RunErrorEvent, RunFinishedEvent

from graphwire.tasks import (
    SqliteTaskStore,
    Task,
    TaskEvent,
    TaskQuery,
    TaskSpec,
    TaskState,
    TaskStore,
)
from tests.processes import serve, wait_healthy
from tests.tasks.graphs import logged_runs

AGENT = Path(__file__).with_name("crash_agent.py")
SETTINGS = {"GRAPHWIRE_TASK_LEASE_SECONDS": "1", "GRAPHWIRE_TASK_WORKERS": "4"}
TASKS = 20


async def until(seconds: float, check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.05)


async def test_sigkill_mid_run_then_restart(tmp_path: Path) -> None:
    first, url = serve([f"slow={AGENT}:graph"], tmp_path, SETTINGS)
    try:
        await wait_healthy(url)
    finally:
        if first.poll() is not None:
            first.communicate(timeout=30)
    store = await SqliteTaskStore.open(tmp_path / ".graphwire" / "graphwire.sqlite")
    try:
        specs = [TaskSpec(agent="slow", prompt=f"job {n}") for n in range(TASKS)]
        tasks = [await store.create(spec) for spec in specs]

        async def some_done_some_mid_run() -> bool:
            states = [(await store.get(t.id)).state for t in tasks]
            return states.count(TaskState.DONE) >= 2 and states.count(TaskState.ONGOING) >= 2

        await until(60, some_done_some_mid_run)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        before = {t.id: await store.read_events(t.id) for t in tasks}
        done_before = {t.id for t in tasks if (await store.get(t.id)).state is TaskState.DONE}
        cut = [t.id for t in tasks if (await store.get(t.id)).state is TaskState.ONGOING]

        second, url = serve([f"slow={AGENT}:graph"], tmp_path, SETTINGS)
        try:
            await wait_healthy(url)

            async def all_done() -> bool:
                page = await store.list_tasks(TaskQuery(limit=100))
                return all(t.state is TaskState.DONE and t.lease_owner is None for t in page.tasks)

            await until(120, all_done)
        finally:
            second.terminate()
            second.communicate(timeout=30)
        for task in tasks:
            await check_task(store, await store.get(task.id), before[task.id])
        for task_id in done_before:
            assert len((await store.get(task_id)).run_ids) == 1  # never run twice
        for task_id in cut:
            task = await store.get(task_id)
            assert len(task.run_ids) == 2
            runs = await logged_runs(store, task_id)
            if not before[task_id]:  # claimed, killed before its RUN_STARTED was logged
                assert len(runs) == 1
                continue
            cut_run = runs[0]
            assert len(cut_run) > len(before[task_id])  # closed after the restart
            assert isinstance(cut_run[-1], RunErrorEvent)
            assert cut_run[-1].code == "WORKER_LOST"
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=30)
        await store.aclose()


async def check_task(store: TaskStore, task: Task, before: list[TaskEvent]) -> None:
    after = await store.read_events(task.id)
    assert after[: len(before)] == before  # nothing logged before the kill changed
    runs = await logged_runs(store, task.id)  # contiguous seqs; every run valid and ended
    successes = [r for r in runs if isinstance(r[-1], RunFinishedEvent)]
    assert len(successes) == 1  # reached done exactly once
    assert len(task.run_ids) - len(runs) in (0, 1)
    finished = json.loads(after[-1].frame)
    assert finished["type"] == "RUN_FINISHED"
    assert task.result == "finished " + " ".join(["step"] * 12)
