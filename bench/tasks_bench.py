"""Benchmark: the task engine on SQLite — tasks per second and claim latency.

For 1, 4 and 16 workers, on a fresh SQLite file that holds the tasks, their
event logs and the LangGraph checkpoints (the embedded default): enqueue N
tasks of a trivial fake-model graph (one node, one reply) and time enqueue ->
every task done. Each successful ``claim_next`` is timed too (p50/p95).
Beside them, the floor: the same N runs of the same graph with plain
``graph.astream``, 16 at a time, no task engine — on langgraph's
AsyncSqliteSaver (aiosqlite) and on graphwire's SqliteCheckpointer (the
checkpointer graphwire gives graphs, sharing the task store's thread).

Run: .venv/bin/python bench/tasks_bench.py [--tasks N] [--workers 1,4,16]
     [--durability async,exit]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.pregel import Pregel
from langgraph.types import Durability

# bench/ is on sys.path when a script here is run: graphs is bench/graphs.py.
import graphs
from graphwire.protocol import STREAM_MODES
from graphwire.tasks import (
    RunnerOptions,
    SqliteFile,
    SqliteTaskStore,
    Task,
    TaskQuery,
    TaskRunner,
    TaskSpec,
    TaskState,
)


class TimedStore(SqliteTaskStore):
    """Records how long each successful claim takes."""

    claims: list[float]

    async def claim_next(
        self, owner: str, run_id: str, lease_seconds: float, agents: Collection[str] | None
    ) -> Task | None:
        started = time.perf_counter()
        task = await super().claim_next(owner, run_id, lease_seconds, agents)
        if task is not None:
            self.claims.append(time.perf_counter() - started)
        return task


async def engine(workers: int, tasks: int, durability: Durability) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        file = SqliteFile(Path(folder) / "graphwire.sqlite")
        await file.acquire()
        try:
            graph = graphs.trivial().copy(update={"checkpointer": file.checkpointer()})
            store = await TimedStore.on(file)
            store.claims = []
            options = RunnerOptions(workers=workers, durability=durability)
            async with TaskRunner(store, {"bench": graph}, options) as runner:
                cpu, started = time.process_time(), time.perf_counter()
                await _enqueue_and_wait(runner, tasks)
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
        finally:
            await file.release()
    claims = sorted(store.claims)
    return {
        "tasks_per_s": tasks / elapsed,
        "cpu_ms": cpu / tasks * 1000,
        "claim_p50_ms": statistics.median(claims) * 1000,
        "claim_p95_ms": claims[int(len(claims) * 0.95) - 1] * 1000,
    }


async def _enqueue_and_wait(runner: TaskRunner, tasks: int) -> None:
    queued = [
        await runner.enqueue(TaskSpec(agent="bench", prompt=f"task {n}")) for n in range(tasks)
    ]
    # FIFO: wait for the last one, then for any still running, then check all.
    await runner.wait_settled(queued[-1].id, 600)
    board = await runner.list_tasks(TaskQuery(limit=tasks))
    for task in board.tasks:
        if task.state is not TaskState.DONE:
            await runner.wait_settled(task.id, 600)
    board = await runner.list_tasks(TaskQuery(limit=tasks))
    if len(board.tasks) != tasks or {t.state for t in board.tasks} != {TaskState.DONE}:
        raise RuntimeError("not every task is done")


async def floor(tasks: int, durability: Durability, saver: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "graphwire.sqlite"
        async with _checkpointer(path, saver) as checkpointer:
            graph = graphs.trivial().copy(update={"checkpointer": checkpointer})
            gate = asyncio.Semaphore(16)

            async def one(n: int) -> None:
                async with gate:
                    await _astream(graph, f"t{n}", durability)

            cpu, started = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one(n) for n in range(tasks)))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
    return {"tasks_per_s": tasks / elapsed, "cpu_ms": cpu / tasks * 1000}


@asynccontextmanager
async def _checkpointer(path: Path, kind: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """graphwire's SqliteCheckpointer, or langgraph's AsyncSqliteSaver (aiosqlite)."""
    if kind == "aiosqlite":
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            yield saver
        return
    file = SqliteFile(path)
    await file.acquire()
    try:
        yield file.checkpointer()
    finally:
        await file.release()


async def _astream(graph: Pregel[Any, Any], thread: str, durability: Durability) -> None:
    async for _ in graph.astream(
        {"messages": [HumanMessage("task", id="u")]},
        {"configurable": {"thread_id": thread}},
        stream_mode=list(STREAM_MODES),
        subgraphs=True,
        version="v2",
        durability=durability,
    ):
        pass


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--durability", default="async,exit")
    args = parser.parse_args()
    print("| durability | workers | tasks/s | CPU ms/task | claim p50 ms | claim p95 ms |")
    print("|---|---|---|---|---|---|")
    for durability in args.durability.split(","):
        for saver in ("aiosqlite", "graphwire"):
            base = await floor(args.tasks, durability, saver)
            print(
                f"| {durability} | floor: astream ×16, {saver} checkpointer "
                f"| {base['tasks_per_s']:.0f} | {base['cpu_ms']:.1f} | – | – |"
            )
        for workers in (int(w) for w in args.workers.split(",")):
            r = await engine(workers, args.tasks, durability)
            print(
                f"| {durability} | {workers} | {r['tasks_per_s']:.0f} | {r['cpu_ms']:.1f} "
                f"| {r['claim_p50_ms']:.2f} | {r['claim_p95_ms']:.2f} |"
            )


if __name__ == "__main__":
    asyncio.run(main())
