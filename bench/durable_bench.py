"""Server CPU per chat run with durable run logs (docs/adr/0012-durable-run-logs.md)
against today's in-memory log.

Five ``graphwire serve`` processes serve the 23-token chat of bench/graphs.py
at once, each on its own store:

- memory: ``--store memory`` — the in-memory log only (no store outlives it);
- sqlite, no run logs / sqlite: the default SQLite store, run logs off
  (``keep_logs`` disabled by a bench-only launcher) and on;
- postgres, no run logs / postgres: a throwaway PostgreSQL (as the tests start
  it), the same two ways.

The "no run logs" rows separate what saving the log costs from what the
store's checkpoints cost. Batches alternate over the five servers for
``--rounds`` rounds (this VM drifts by 10-20 % within minutes); each figure
is the median of its batches. The server process's CPU only: PostgreSQL's own
backends are not counted.

Run: .venv/bin/python bench/durable_bench.py [--runs 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from tests.postgres import fresh_database, postgres_server  # noqa: E402

from server_bench import free_port, load, wait_healthy  # noqa: E402

NO_RUN_LOGS = (
    "import sys\n"
    "from graphwire.runs import RunRegistry\n"
    "RunRegistry.keep_logs = lambda self, logs: None  # the log stays in memory only\n"
    "from graphwire.cli import main\n"
    "sys.exit(main())\n"
)


def start(store: list[str], data: Path, run_logs: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{BENCH}:{ROOT / 'src'}",
        "GRAPHWIRE_DATA_DIR": str(data),
    }
    launcher = ["-m", "graphwire.cli"] if run_logs else ["-c", NO_RUN_LOGS]
    args = ["serve", "--port", str(port), "--log-level", "warning", *store, "chat=graphs:chat"]
    process = subprocess.Popen(
        [sys.executable, *launcher, *args], env=env, stdout=subprocess.DEVNULL
    )
    return process, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def servers(postgres: tuple[str, str]) -> Iterator[dict[str, tuple[int, str]]]:
    """Every configuration's server, started; label -> (pid, base URL)."""
    configs = {
        "memory": (["--store", "memory"], True),
        "sqlite, no run logs": ([], False),
        "sqlite": ([], True),
        "postgres, no run logs": (["--store", postgres[0]], False),
        "postgres": (["--store", postgres[1]], True),
    }
    started: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for n, (label, (store, logs)) in enumerate(configs.items()):
                started[label] = start(store, Path(tmp) / f"data-{n}", logs)
            yield {label: (p.pid, base) for label, (p, base) in started.items()}
        finally:
            for process, _ in started.values():
                process.terminate()
                process.wait(30)


@contextlib.asynccontextmanager
async def databases() -> AsyncIterator[tuple[str, str]]:
    with (
        postgres_server() as admin,
        fresh_database(admin) as first,
        fresh_database(admin) as second,
    ):
        yield first, second


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()
    async with databases() as postgres:
        with servers(postgres) as started:
            for _, base in started.values():
                await wait_healthy(base)
            print("| store | conc | server CPU ms/run | × memory | runs/s |")
            print("|---|---|---|---|---|")
            for conc in (1, 8):
                cpu: dict[str, list[float]] = {label: [] for label in started}
                rate: dict[str, list[float]] = {label: [] for label in started}
                for _ in range(opts.rounds):
                    for label, (pid, base) in started.items():
                        batch = await load(f"{base}/agents/chat", pid, opts.runs, conc)
                        cpu[label].append(batch.cpu_ms)
                        rate[label].append(opts.runs / batch.seconds)
                memory = statistics.median(cpu["memory"])
                for label in started:
                    ms = statistics.median(cpu[label])
                    print(
                        f"| {label} | {conc} | {ms:.2f} | {ms / memory:.2f} | "
                        f"{statistics.median(rate[label]):.0f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    asyncio.run(main())
