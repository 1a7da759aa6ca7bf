"""Memory a server holds: per ended run (its log, kept for re-attach) and per
idle stream (a client waiting on a quiet run).

A real ``graphwire serve`` (the SQLite store, so checkpoints are on disk)
serves bench/graphs.py's chat and quiet graphs; resident memory (VmRSS) is
read from /proc before and after:

- ended runs: 500 chats with a 1 kB message, then 300 with a 100 kB message,
  each on its own thread; reported per run, and where the 100 kB runs level
  off under ``retained_run_bytes`` (set it with --env to compare);
- idle streams: 200 clients re-attached to one quiet run (it says nothing for
  8 s), each a connection and an SSE writer waiting for events.

    .venv/bin/python bench/memory_bench.py [--env KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import serve, wait_healthy  # noqa: E402


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _body(text: str, thread: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "threadId": thread or f"t-{uuid.uuid4().hex}",
        "runId": f"r-{uuid.uuid4().hex}",
        "state": {},
        "tools": [],
        "context": [],
        "forwardedProps": {},
        "messages": [{"id": f"u-{uuid.uuid4().hex}", "role": "user", "content": text}],
        **extra,
    }


async def _chat(client: httpx.AsyncClient, text: str) -> None:
    async with client.stream("POST", "/agents/chat", json=_body(text)) as response:
        response.raise_for_status()
        async for _ in response.aiter_bytes():
            pass


async def _runs(client: httpx.AsyncClient, count: int, size: int) -> None:
    text = "x" * size
    for start in range(0, count, 8):
        await asyncio.gather(*(_chat(client, text) for _ in range(min(8, count - start))))


async def _idle_streams(client: httpx.AsyncClient, pid: int, count: int) -> dict[str, float]:
    body = _body("wait", forwardedProps={"graphwire": {"onDisconnect": "continue"}})
    async with client.stream("POST", "/agents/quiet", json=body) as first:
        first.raise_for_status()
        await asyncio.sleep(0.5)
        before = _rss_mb(pid)
        opened: list[Any] = []
        async with asyncio.TaskGroup() as group:
            streams = [
                client.stream("GET", f"/runs/{body['runId']}/events", timeout=None)
                for _ in range(count)
            ]
            opened = [await s.__aenter__() for s in streams]
            await asyncio.sleep(1.0)
            during = _rss_mb(pid)
            for stream, response in zip(streams, opened, strict=True):
                group.create_task(stream.__aexit__(None, None, None))
                del response
    return {"idle_streams": count, "kb_per_idle_stream": round((during - before) * 1024 / count, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="memory-bench-")
    env = {"GRAPHWIRE_DATA_DIR": data, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    env.update(item.split("=", 1) for item in args.env)
    server, url = serve(
        ["chat=bench.graphs:chat", "quiet=bench.graphs:quiet"], ROOT, env, log=sys.stderr
    )
    report: dict[str, Any] = {"env": args.env}
    try:
        await wait_healthy(url)
        limits = httpx.Limits(max_connections=400)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            await _runs(client, 50, 100)  # warm up
            base = _rss_mb(server.pid)
            await _runs(client, 500, 1_000)
            small = _rss_mb(server.pid)
            report["kb_per_ended_run_1kB"] = round((small - base) * 1024 / 500, 1)
            levels = []
            for _ in range(3):
                await _runs(client, 100, 100_000)
                levels.append(round(_rss_mb(server.pid) - small, 1))
            report["mb_held_after_100_200_300_runs_of_100kB"] = levels
            report.update(await _idle_streams(client, server.pid, 200))
            report["rss_mb_end"] = round(_rss_mb(server.pid), 1)
    finally:
        server.terminate()
        server.wait(30)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
