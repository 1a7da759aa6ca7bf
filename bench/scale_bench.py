"""Scale-out on PostgreSQL: 1, 2 and 4 ``graphwire serve`` processes on one
database (a throwaway server, as the tests start it).

For each process count, on a fresh database:
- tasks/s: N tasks of a one-node graph (tests/tasks/quick_agent.py) enqueued
  at once, timed from the first enqueue to the last task done; the claim
  latency of each (its start less its creation) when tasks arrive one at a
  time, 20 ms apart (p50 / p99);
- foreground runs/s: M chats of the same graph, 16 at a time, spread round
  robin over the processes, each read to its end;
- cancel latency across processes (2 or more): a streaming chat
  (tests/chat/agent.py, "slow") on the first process is cancelled through the
  second; the time from the cancel's POST to the stream's terminal event
  (p50 / max of 20);
- re-attach latency across processes (2 or more): a chat streaming 40 words
  50 ms apart (tests/chat/agent.py, "count 40") on the first process, tailed
  through the second with Last-Event-ID from its first event: how much later
  each event reaches the second's tail than the first's stream (p50 / p99 over
  10 runs); and a replay of an ended run's log through the second, from the
  request to its terminal event (p50 / p99 of 20).

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
CHAT_AGENT = ROOT / "tests" / "chat" / "agent.py"
AFTER_FIRST = {"Last-Event-ID": "1"}
WORKERS = "4"


@contextlib.contextmanager
def processes(url: str, count: int, cwd: Path) -> Iterator[list[str]]:
    env = {"GRAPHWIRE_TASK_WORKERS": WORKERS, "GRAPHWIRE_LOG_LEVEL": "warning"}
    specs = [
        "--store",
        url,
        f"quick={AGENT}:graph",
        f"chat={CHAT_AGENT}:graph",
    ]
    with serve_many(specs, cwd, [env] * count) as started:
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


async def cancel_latency(owner: str, other: str, count: int) -> tuple[float, float]:
    waits = []
    async with httpx.AsyncClient(timeout=60) as http:
        for _ in range(count):
            body = run_body(str(uuid.uuid4()), str(uuid.uuid4()), "slow", protocolVersion="1.0")
            async with http.stream("POST", f"{owner}/agents/chat", json=body) as streamed:
                lines = streamed.aiter_lines()
                async for line in lines:
                    if "TEXT_MESSAGE_CONTENT" in line:  # running on the owner
                        break
                began = time.perf_counter()
                (await http.post(f"{other}/runs/{body['runId']}/cancel")).raise_for_status()
                async for line in lines:
                    if '"RUN_FINISHED"' in line or '"RUN_ERROR"' in line:
                        waits.append((time.perf_counter() - began) * 1000)
                        break
                else:
                    raise RuntimeError(f"run {body['runId']} ended without a terminal event")
    return statistics.median(waits), max(waits)


async def timed_events(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    began: asyncio.Event | None = None,
    **kwargs: Any,
) -> dict[int, float] | None:
    """When each event of an SSE response arrived, by its id (``began`` set at
    the first); None for a run not known (yet)."""
    arrived: dict[int, float] = {}
    async with http.stream(method, url, **kwargs) as streamed:
        if streamed.status_code == 404:
            return None
        streamed.raise_for_status()
        async for line in streamed.aiter_lines():
            if line.startswith("id: "):
                arrived[int(line[4:])] = time.perf_counter()
                if began is not None:
                    began.set()
    return arrived


async def reattach_latency(owner: str, other: str, runs: int) -> dict[str, float]:
    """Live: each event's lag on the other process's tail behind the owner's
    stream. Replay: an ended run's whole log through the other process."""
    lags: list[float] = []
    replays: list[float] = []
    cont = {"graphwire": {"onDisconnect": "continue"}}
    async with httpx.AsyncClient(timeout=60) as http:
        for _ in range(runs):
            body = run_body(str(uuid.uuid4()), str(uuid.uuid4()), "count 40", forwardedProps=cont)
            events = f"{other}/runs/{body['runId']}/events"
            began = asyncio.Event()
            streamed = asyncio.create_task(
                timed_events(http, "POST", f"{owner}/agents/chat", began, json=body)
            )
            await began.wait()
            # The first events are stored at once: a few ms after, B knows the run.
            while (tailed := await timed_events(http, "GET", events, headers=AFTER_FIRST)) is None:
                await asyncio.sleep(0.005)
            live = await streamed
            assert live is not None
            lags.extend((tailed[seq] - live[seq]) * 1000 for seq in tailed)
        for _ in range(2 * runs):
            start = time.perf_counter()
            await timed_events(http, "GET", events, headers={"Last-Event-ID": "0"})
            replays.append((time.perf_counter() - start) * 1000)
    return {
        "lag p50": statistics.median(lags),
        "lag p99": statistics.quantiles(lags, n=100)[98],
        "replay p50": statistics.median(replays),
        "replay p99": statistics.quantiles(replays, n=100)[98],
    }


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
            cancel = await cancel_latency(bases[0], bases[1], 20) if count > 1 else None
            reattach = await reattach_latency(bases[0], bases[1], 10) if count > 1 else None
        finally:
            await store.aclose()
    return {
        "processes": count,
        "tasks/s": rate,
        "claim p50 ms": p50,
        "claim p99 ms": p99,
        "runs/s": chats,
        "cancel": cancel,
        "reattach": reattach,
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
    head = (
        "processes",
        "tasks/s",
        "× 1",
        "claim p50 ms",
        "claim p99 ms",
        "runs/s",
        "× 1",
        "cancel via another p50 / max ms",
        "re-attach via another: lag p50 / p99 ms",
        "replay via another p50 / p99 ms",
    )
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
            "–" if row["cancel"] is None else "{:.0f} / {:.0f}".format(*row["cancel"]),
            _pair(row["reattach"], "lag"),
            _pair(row["reattach"], "replay"),
        )
        print("| " + " | ".join(str(c) for c in cells) + " |")


def _pair(figures: dict[str, float] | None, name: str) -> str:
    if figures is None:
        return "–"
    return f"{figures[name + ' p50']:.0f} / {figures[name + ' p99']:.0f}"


if __name__ == "__main__":
    asyncio.run(main())
