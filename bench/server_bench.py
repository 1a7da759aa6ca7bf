"""Load benchmark: graphwire over real HTTP vs the in-process floor.

For a 23-token chat and a 2,000-token stream at concurrency 1, 8 and 64:
server CPU per run (from /proc), p50/p95 latency, first-event latency, runs/s,
bytes per run and peak RSS — beside the same graph run in-process with
graph.astream (the floor). Then N concurrent slow streams held with keepalives.

With --peer, the same load then runs against ag-ui-langgraph serving the same
graphs (bench/peer_server.py, in its own virtualenv bench/.peer-venv, made on
first use from PyPI) and its rows are printed beside ours.

Run: .venv/bin/python bench/server_bench.py [--quick] [--rounds 5] [--slow-streams 1000]
     [--peer | --peer-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httptools
import httpx

try:
    import uvloop
except ImportError:  # not on Windows or PyPy: uvicorn then runs asyncio too
    uvloop = None  # type: ignore[assignment]
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

# bench/ is on sys.path when a script here is run: graphs is bench/graphs.py.
import graphs
from graphwire.cli import settle_heap
from graphwire.protocol import STREAM_MODES

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    bench = Path(__file__).parent
    env = {
        **os.environ,
        # This checkout's graphwire, whichever is installed (a worktree's bench
        # measures that worktree).
        "PYTHONPATH": f"{bench}:{bench.parent / 'src'}",
        "GRAPHWIRE_KEEPALIVE_SECONDS": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graphwire.cli",
            "serve",
            "--port",
            str(port),
            "--store",
            "memory",
            "--log-level",
            "warning",
            "chat=graphs:chat",
            "long=graphs:long",
            "quiet=graphs:quiet",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )


PEER_VENV = Path(__file__).parent / ".peer-venv"
PEER_PACKAGES = ["ag-ui-langgraph[fastapi]==0.0.47", "uvicorn[standard]"]
"""uvicorn[standard]: the peer too runs on uvloop and httptools, as graphwire does."""


def peer_python() -> Path:
    """The peer's interpreter: a virtualenv with ag-ui-langgraph and graphwire
    (for the bench graphs' fake model), made once."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        root = Path(__file__).parents[1]
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run(
            [*pip, *PEER_PACKAGES, "-e", str(root)], check=True, stderr=subprocess.DEVNULL
        )
    return python


def start_peer(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    script = Path(__file__).with_name("peer_server.py")
    return subprocess.Popen(
        [str(peer_python()), str(script), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def body(text: str = "go") -> dict[str, Any]:
    return {
        "threadId": uuid.uuid4().hex,
        "runId": uuid.uuid4().hex,
        "state": {},
        "tools": [],
        "context": [],
        "forwardedProps": {},
        "messages": [{"id": uuid.uuid4().hex, "role": "user", "content": text}],
    }


IDLE_SECONDS = 4.0
"""uvicorn closes a keep-alive connection after 5 s idle; the client reopens
one that has been idle longer than this (a slow warm-up leaves some idle)."""


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs runs and reads their SSE
    responses, parsed with httptools. httpx costs the client ~5 ms of CPU per
    run at 64 concurrent streams, so with 2 cores shared the client, not the
    server, set the pace; this client costs a fraction of that."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._used_at = 0.0

    async def run(self, path: str) -> tuple[float, float, int, float]:
        """POST one run; its latency, time to the first body byte, body bytes,
        time to the first text content."""
        if self._streams is not None and time.monotonic() - self._used_at > IDLE_SECONDS:
            self.close()  # the server may have closed it: open a fresh one
        if self._streams is None:
            self._streams = await asyncio.open_connection(*self._address)
        reader, writer = self._streams
        payload = json.dumps(body()).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self._address[0]}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
        )
        start = time.perf_counter()
        writer.write(head.encode() + payload)
        response = _Response(start)
        parser = httptools.HttpResponseParser(response)
        while not response.complete:
            data = await reader.read(65536)
            if not data:
                raise RuntimeError("the server closed the connection")
            parser.feed_data(data)
        if parser.get_status_code() != 200 or b'"RUN_FINISHED"' not in response.tail:
            raise RuntimeError(f"the run failed: {parser.get_status_code()} {response.tail!r}")
        self._used_at = time.monotonic()
        return (
            time.perf_counter() - start,
            response.first - start,
            response.size,
            response.first_token - start,
        )

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class _Response:
    """httptools callbacks: when the body starts, when the first text content
    arrives, its size, its last bytes."""

    def __init__(self, start: float) -> None:
        self.first = start
        self.first_token = 0.0
        self.size = 0
        self.tail = b""
        self.complete = False

    def on_body(self, chunk: bytes) -> None:
        if not self.size:
            self.first = time.perf_counter()
        if not self.first_token and b'"TEXT_MESSAGE_CONTENT"' in chunk:
            self.first_token = time.perf_counter()
        self.size += len(chunk)
        self.tail = (self.tail + chunk)[-400:]

    def on_message_complete(self) -> None:
        self.complete = True


@dataclass
class Batch:
    """One load batch: the server's CPU per run and each run's (latency, first
    byte, body bytes)."""

    cpu_ms: float
    results: list[tuple[float, float, int, float]]
    seconds: float


async def load(url: str, pid: int, runs: int, concurrency: int) -> Batch:
    parsed = httpx.URL(url)
    connections = [Connection(parsed.host, parsed.port or 80) for _ in range(concurrency)]
    try:
        # Warm-up, untimed: every connection open and used once, so the timed
        # runs start together on a keep-alive pool, as the floor's start together.
        await asyncio.gather(*(connection.run(parsed.path) for connection in connections))
        queue = list(range(runs))
        results: list[tuple[float, float, int, float]] = []

        async def worker(connection: Connection) -> None:
            while queue:
                queue.pop()
                results.append(await connection.run(parsed.path))

        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*[worker(c) for c in connections])
        cpu1, wall1 = cpu_seconds(pid), time.perf_counter()
    finally:
        for connection in connections:
            connection.close()
    return Batch((cpu1 - cpu0) / runs * 1e3, results, wall1 - wall0)


FLOOR_GRAPHS = {
    tokens: graphs.build(tokens).copy(update={"checkpointer": InMemorySaver()})
    for tokens in (23, 2000)
}
"""Built once, like the server's: each keeps every run's checkpoints in memory
for the whole benchmark, as the server's in-memory store does."""


@dataclass
class Floor:
    cpu_ms: float
    first_token: list[float]
    """Seconds from each run's start to its first streamed token."""


async def floor(tokens: int, runs: int, concurrency: int) -> Floor:
    """CPU per run of the graph alone, ``concurrency`` runs at a time, in this
    process (on the same event loop implementation as the server), and when
    each run's first token came."""
    graph = FLOOR_GRAPHS[tokens]
    firsts: list[float] = []

    async def run() -> None:
        config = {"configurable": {"thread_id": uuid.uuid4().hex}}
        start, first = time.perf_counter(), 0.0
        async for part in graph.astream(
            {"messages": [HumanMessage("go")]},
            config,
            stream_mode=list(STREAM_MODES),
            subgraphs=True,
            version="v2",
        ):
            if not first and part["type"] == "messages":
                first = time.perf_counter()
        firsts.append(first - start)

    await run()
    firsts.clear()
    queue = list(range(runs))

    async def worker() -> None:
        while queue:
            queue.pop()
            await run()

    start = time.process_time()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return Floor((time.process_time() - start) / runs * 1e3, firsts)


async def slow_streams(base: str, count: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=count + 8)
    keepalives = errors = finished = 0
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def stream() -> None:
            nonlocal keepalives, errors, finished
            try:
                async with client.stream("POST", f"{base}/agents/quiet", json=body()) as resp:
                    async for line in resp.aiter_lines():
                        keepalives += line == ": keepalive"
                        finished += "RUN_FINISHED" in line
            except httpx.HTTPError:
                errors += 1

        await asyncio.gather(*[stream() for _ in range(count)])
    return {
        "streams": count,
        "finished": finished,
        "errors": errors,
        "keepalives_per_stream": keepalives / count,
    }


async def wait_healthy(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{base} did not come up")


async def table(label: str, base: str, pid: int, scale: float, rounds: int) -> None:
    """One row per graph and concurrency: the server's CPU beside the floor's.

    Floor and server batches alternate for ``rounds`` rounds and each CPU figure
    is the median of its batches, so drift in this VM's speed hits both alike.
    """
    for name, tokens, runs in (("chat", 23, 300), ("long", 2000, 40)):
        for conc in (1, 8, 64):
            n = max(conc, int(runs * scale * (1 if conc == 1 else 2)))
            floors: list[Floor] = []
            batches: list[Batch] = []
            for _ in range(rounds):
                floors.append(await floor(tokens, n, conc))
                batches.append(await load(f"{base}/agents/{name}", pid, n, conc))
            floor_ms = statistics.median(f.cpu_ms for f in floors)
            floor_token = statistics.median(t for f in floors for t in f.first_token) * 1e3
            cpu_ms = statistics.median(b.cpu_ms for b in batches)
            results = [r for b in batches for r in b.results]
            latency = sorted(r[0] for r in results)
            first = statistics.median(r[1] for r in results) * 1e3
            token = statistics.median(r[3] for r in results) * 1e3
            runs_s = len(results) / sum(b.seconds for b in batches)
            size = statistics.mean(r[2] for r in results)
            print(
                f"| {label} | {name} ({tokens} tok) | {conc} | {cpu_ms:.2f} | "
                f"{floor_ms:.2f} | {cpu_ms / floor_ms:.2f} | "
                f"{statistics.median(latency) * 1e3:.1f} | "
                f"{latency[int(len(latency) * 0.95) - 1] * 1e3:.1f} | {first:.2f} | "
                f"{token:.2f} | {floor_token:.2f} | {runs_s:.1f} | {size:.0f} |",
                flush=True,
            )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--slow-streams", type=int, default=1000)
    parser.add_argument("--peer", action="store_true", help="also load ag-ui-langgraph")
    parser.add_argument("--peer-only", action="store_true", help="load ag-ui-langgraph only")
    parser.add_argument("--rounds", type=int, default=5, help="floor/server batches per row")
    opts = parser.parse_args()
    scale = 0.25 if opts.quick else 1.0
    settle_heap()  # as `graphwire serve` does once the graphs are loaded
    print(f"event loop: {type(asyncio.get_running_loop()).__module__} (server and floor)")
    print(
        "| server | graph | conc | server CPU ms/run | floor CPU ms/run | ratio | p50 ms | "
        "p95 ms | first-event p50 ms | first-token p50 ms | floor first-token p50 ms | "
        "runs/s | bytes/run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    if not opts.peer_only:
        await load_graphwire(opts, scale)
    if opts.peer or opts.peer_only:
        async with running(start_peer) as (base, pid):
            # One round: the peer needs ~1 s of CPU per 2,000-token run.
            await table("ag-ui-langgraph 0.0.47", base, pid, scale, 1)
            print(f"peer peak RSS after load: {peak_rss_mib(pid):.0f} MiB")


async def load_graphwire(opts: argparse.Namespace, scale: float) -> None:
    async with running(start_server) as (base, pid):
        await table("graphwire", base, pid, scale, opts.rounds)
        print(f"peak RSS after load: {peak_rss_mib(pid):.0f} MiB")
        if opts.slow_streams:
            cpu0 = cpu_seconds(pid)
            result = await slow_streams(base, opts.slow_streams)
            print(
                f"slow streams: {result}; server CPU {cpu_seconds(pid) - cpu0:.2f} s; "
                f"peak RSS {peak_rss_mib(pid):.0f} MiB"
            )


@asynccontextmanager
async def running(
    start: Callable[[int], subprocess.Popen[bytes]],
) -> AsyncIterator[tuple[str, int]]:
    """A server process on a free port, healthy; yields its base URL and pid."""
    port = free_port()
    server = start(port)
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    # The floor runs on the event loop the server gets from uvicorn: uvloop
    # where graphwire installs it.
    if uvloop is None:
        asyncio.run(main())
    else:
        uvloop.run(main())
