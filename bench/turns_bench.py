"""Growth per turn: one thread driven for many turns the way CopilotKit does.

A real ``graphwire serve`` (the SQLite store, a fresh data directory) serves
bench/graphs.py's 23-token chat; every turn POSTs the whole history as the
last MESSAGES_SNAPSHOT gave it, plus one new user message, and reads the
stream to its end. Reported: the median wall time of the ten turns around
turns 10, 100 and 200, the SQLite file (and -wal) size and its checkpoint rows
there, and an edit of the user message five turns back at the end; then
"paired": turn 10 of a fresh thread and, right after it, one more turn of the
long thread, fifteen times (the medians and their ratio: the machine's slow
spells fall on both sides of a pair). Then the same turns and pairs against
bench/floor_server.py, the protocol's floor (the body parsed, the events and
the snapshot written, nothing else), graphwire's time over it, and the ratio
graphwire would have if its own work did not grow with the thread at all.
With --peer, the same turns and pairs against ag-ui-langgraph
(bench/peer_server.py: its InMemorySaver, no disk).

    .venv/bin/python bench/turns_bench.py [--turns 200] [--env KEY=VALUE ...] [--peer]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server_bench import start_peer  # noqa: E402
from tests.processes import clean_env, free_port, serve  # noqa: E402

THREAD = "bench-thread"
AROUND = (10, 100, 200)
PAIRS = 15


def _turn(
    client: httpx.Client, history: list[dict[str, Any]], text: str, thread: str = THREAD
) -> tuple[float, list[Any]]:
    message = {"id": f"u-{uuid.uuid4().hex[:12]}", "role": "user", "content": text}
    return _post(client, [*history, message], thread)


def _post(
    client: httpx.Client, messages: list[dict[str, Any]], thread: str = THREAD
) -> tuple[float, list[Any]]:
    body = {
        "threadId": thread,
        "runId": f"r-{uuid.uuid4().hex}",
        "state": {},
        "tools": [],
        "context": [],
        "forwardedProps": {},
        "messages": messages,
    }
    snapshot: list[Any] = []
    start = time.perf_counter()
    with client.stream("POST", "/agents/chat", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "MESSAGES_SNAPSHOT":
                    snapshot = event["messages"]
                elif event["type"] == "RUN_ERROR":
                    raise SystemExit(f"run failed: {event}")
    return (time.perf_counter() - start) * 1000, snapshot


def _storage(path: Path) -> dict[str, int]:
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows, blobs = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(checkpoint)), 0) FROM checkpoints "
            "WHERE thread_id = ?",
            (THREAD,),
        ).fetchone()
    return {"file_bytes": size, "checkpoints": rows, "checkpoint_bytes": blobs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--peer", action="store_true", help="also drive ag-ui-langgraph")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="turns-bench-"))
    env = {"GRAPHWIRE_DATA_DIR": str(data), "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    env.update(item.split("=", 1) for item in args.env)
    server, url = serve(["chat=bench.graphs:chat"], ROOT, env, log=sys.stderr)
    storage: dict[int, dict[str, int]] = {}

    def measure(n: int) -> None:
        if n in AROUND:
            storage[n] = _storage(data / "graphwire.sqlite")

    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            _wait(client)
            times, history = _thread(client, args.turns, measure)
            # An edit of the user message five turns back: a fork from the history.
            at = 2 * (args.turns - 5)
            edited = [*history[:at], {**history[at], "content": "edited"}]
            edit_ms, history = _post(client, edited)
            paired = _paired(client, history)
    finally:
        server.terminate()
        server.wait(30)
    report: dict[str, Any] = {"turns": args.turns, "env": args.env}
    report.update(_around(times, storage))
    if args.turns >= 200:
        report["ratio_200_to_10"] = round(report["turn_200_ms"] / report["turn_10_ms"], 2)
    report["edit_5_turns_back_ms"] = round(edit_ms, 1)
    report["paired"] = _medians(paired, args.turns)
    report["floor"] = _other(args.turns, _floor)
    ours, floor = report["paired"], report["floor"]["paired"]
    sides = ("turn_10_ms", f"turn_{args.turns}_ms")
    report["paired_over_floor_ms"] = {side: round(ours[side] - floor[side], 1) for side in sides}
    # The best ratio graphwire could reach: its own work not growing at all,
    # only the protocol's (what the floor spends more on the long thread).
    grown = floor[sides[1]] - floor[sides[0]]
    report["paired_ratio_without_own_growth"] = round((ours[sides[0]] + grown) / ours[sides[0]], 2)
    if args.peer:
        report["peer"] = _other(args.turns, start_peer)
    print(json.dumps(report, indent=2))


def _floor(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(ROOT / "bench" / "floor_server.py"), str(port)]
    return subprocess.Popen(command, env=clean_env(), stderr=sys.stderr)


def _other(turns: int, start: Callable[[int], subprocess.Popen[bytes]]) -> dict[str, Any]:
    """The same turns and pairs against another server ``start`` starts on a port."""
    port = free_port()
    other = start(port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            _wait(client)
            times, history = _thread(client, turns, lambda n: None)
            paired = _paired(client, history)
    finally:
        other.terminate()
        other.wait(30)
    return {**_around(times, {}), "paired": _medians(paired, turns)}


def _thread(
    client: httpx.Client, turns: int, after: Callable[[int], None]
) -> tuple[list[float], list[Any]]:
    """One thread of ``turns`` turns: each turn's wall time, and the history."""
    times: list[float] = []
    history: list[Any] = []
    for n in range(1, turns + 1):
        ms, history = _turn(client, history, f"turn {n}: hello there")
        times.append(ms)
        after(n)
    return times, history


def _around(times: list[float], storage: dict[int, dict[str, int]]) -> dict[str, Any]:
    """The median of the ten turns around each of ``AROUND``, and ``storage`` there."""
    report: dict[str, Any] = {}
    for n in AROUND:
        if n <= len(times):
            report[f"turn_{n}_ms"] = round(statistics.median(times[max(n - 5, 0) : n + 5]), 1)
            if storage:
                report[f"turn_{n}_storage"] = storage.get(n)
    return report


def _medians(paired: list[tuple[float, float]], turns: int) -> dict[str, Any]:
    short, long = (statistics.median(side) for side in zip(*paired, strict=True))
    return {
        "pairs": len(paired),
        "turn_10_ms": round(short, 1),
        f"turn_{turns}_ms": round(long, 1),
        "ratio": round(long / short, 2),
    }


def _paired(client: httpx.Client, history: list[Any]) -> list[tuple[float, float]]:
    """Turn 10 of a fresh thread, then at once the next turn of the long one,
    ten times: each pair runs under the same load, so the machine's slow
    spells (seconds long, ±15 % and more) cancel out of the ratio."""
    pairs = []
    for n in range(PAIRS):
        thread, short = f"short-{n}", []
        for turn in range(1, 10):
            _, short = _turn(client, short, f"turn {turn}: hello there", thread)
        short_ms, _ = _turn(client, short, "turn 10: hello there", thread)
        long_ms, history = _turn(client, history, "one more: hello there")
        pairs.append((short_ms, long_ms))
    return pairs


def _wait(client: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.ConnectError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
