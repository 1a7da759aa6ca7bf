"""Scale-out on PostgreSQL: 1, 2 and 4 ``graphwire serve`` processes on one
database (a throwaway server, as the tests start it).

For each process count, on a fresh database:
- tasks/s: N tasks of a one-node graph (tests/tasks/quick_agent.py) enqueued
  at once, timed from the first enqueue to the last task done; the claim
  latency of each (its start less its creation) when tasks arrive one at a
  time, 20 ms apart (p50 / p99);
- foreground runs/s: M chats of the same graph, 16 at a time, spread round
  robin over the processes, each read to its end.

Run: .venv/bin/python bench/scale_bench.py [--tasks 400] [--runs 400] [--processes 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.postgres import fresh_database, postgres_server  # noqa: E402
from tests.processes import serve_many, wait_healthy  # noqa: E402
from tests.server.conftest import run_body  # noqa: E402

from graphwire.tasks import PostgresTaskStore, TaskQuery, TaskSpec, TaskState  # noqa: E402

AGENT = ROOT / "tests" / "tasks" / "quick_agent.py"
WORKERS = "4"


@contextlib.contextmanager
def processes(url: str, count: int, cwd: Path) -> Iterator[list[str]]:
    env = {"GRAPHWIRE_TASK_WORKERS": WORKERS, "GRAPHWIRE_LOG_LEVEL": "warning"}
    with serve_many(["--store", url, f"quick={AGENT}:graph"], cwd, [env] * count) as started:
        yield [base for _, base in started]


async def tasks_per_second(store: PostgresTaskStore, count: int) -> float:
    began = time.perf_counter()
    await asyncio.gather(
        *(store.create(TaskSpec(agent="quick", prompt=f"job {n}")) for n in range(count))
    )
    while True:
        page = await store.list_tasks(
            TaskQuery(limit=count + 1, states=frozenset({TaskState.DONE}))
        )
        if len(page.tasks) >= count:
            return count / (time.perf_counter() - began)
        await asyncio.sleep(0.02)


async def claim_latency(store: PostgresTaskStore, count: int) -> tuple[float, float]:
    created = []
    for n in range(count):
        created.append(await store.create(TaskSpec(agent="quick", prompt=f"one {n}")))
        await asyncio.sleep(0.02)
    waits = []
    for task in created:
        while (done := await store.get(task.id)).started_at is None:
            await asyncio.sleep(0.02)
        waits.append((done.started_at - task.created_at) * 1000)
    waits.sort()
    return statistics.median(waits), waits[int(len(waits) * 0.99) - 1]


async def runs_per_second(bases: list[str], count: int) -> float:
    gate = asyncio.Semaphore(16)

    async def one(http: httpx.AsyncClient, n: int) -> None:
        thread, run = str(uuid.uuid4()), str(uuid.uuid4())
        body = run_body(thread, run, f"chat {n}", protocolVersion="1.0")
        async with (
            gate,
            http.stream("POST", f"{bases[n % len(bases)]}/agents/quick", json=body) as r,
        ):
            r.raise_for_status()
            async for _ in r.aiter_bytes():
                pass

    async with httpx.AsyncClient(timeout=60) as http:
        began = time.perf_counter()
        await asyncio.gather(*(one(http, n) for n in range(count)))
        return count / (time.perf_counter() - began)


async def measure(admin: str, count: int, tasks: int, runs: int) -> dict[str, Any]:
    with (
        fresh_database(admin) as url,
        tempfile.TemporaryDirectory() as tmp,
        processes(url, count, Path(tmp)) as bases,
    ):
        for base in bases:
            await wait_healthy(base)
        store = await PostgresTaskStore.open(url)
        try:
            rate = await tasks_per_second(store, tasks)
            p50, p99 = await claim_latency(store, 100)
            chats = await runs_per_second(bases, runs)
        finally:
            await store.aclose()
    return {
        "processes": count,
        "tasks/s": rate,
        "claim p50 ms": p50,
        "claim p99 ms": p99,
        "runs/s": chats,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--processes", default="1,2,4")
    args = parser.parse_args()
    rows = []
    with postgres_server() as admin:
        for count in (int(n) for n in args.processes.split(",")):
            rows.append(await measure(admin, count, args.tasks, args.runs))
            print(rows[-1], flush=True)
    first = rows[0]
    head = ("processes", "tasks/s", "× 1", "claim p50 ms", "claim p99 ms", "runs/s", "× 1")
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for row in rows:
        cells = (
            row["processes"],
            f"{row['tasks/s']:.0f}",
            f"{row['tasks/s'] / first['tasks/s']:.2f}",
            f"{row['claim p50 ms']:.1f}",
            f"{row['claim p99 ms']:.1f}",
            f"{row['runs/s']:.0f}",
            f"{row['runs/s'] / first['runs/s']:.2f}",
        )
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    asyncio.run(main())
