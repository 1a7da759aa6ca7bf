"""Benchmark: the protocol mapping over a 2,000-token stream.

Compares, in one process and one script run:
  floor   iterate graph.astream(...) with graphwire's stream modes, no mapping
  mapped  the same astream, every part parsed and mapped to AG-UI events
  encoded mapped, plus each event serialized as the SSE encoder does
and the mapper alone over pre-recorded parts (CPU per AG-UI event).

Run: .venv/bin/python bench/mapper_bench.py [--repeat N] [--tokens N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.messages import HumanMessage

# bench/ is on sys.path when a script here is run: graphs is bench/graphs.py.
import graphs
from graphwire.protocol import STREAM_MODES, AguiMapper, RunInfo, StreamParser


def parts_of(graph: Any) -> Any:
    return graph.astream(
        {"messages": [HumanMessage("go", id="u")]},
        stream_mode=list(STREAM_MODES),
        subgraphs=True,
        version="v2",
    )


async def floor(graph: Any) -> int:
    count = 0
    async for _ in parts_of(graph):
        count += 1
    return count


async def mapped(graph: Any, encode: bool = False) -> int:
    parser, mapper = StreamParser(), AguiMapper(RunInfo("t", "r"))
    events = mapper.start()
    count = 0
    async for part in parts_of(graph):
        for parsed in parser.parse(part):
            events = mapper.feed(parsed)
            count += len(events)
            if encode:
                for event in events:
                    event.model_dump_json(by_alias=True)
    count += len(mapper.finish())
    return count


async def cpu(fn: Callable[[], Awaitable[int]], repeat: int) -> tuple[float, int]:
    await fn()  # warm-up
    samples = []
    count = 0
    for _ in range(repeat):
        start = time.process_time()
        count = await fn()
        samples.append(time.process_time() - start)
    return statistics.median(samples), count


async def mapper_alone(graph: Any, repeat: int) -> tuple[float, int]:
    recorded = [part async for part in parts_of(graph)]
    samples = []
    count = 0
    for _ in range(repeat):
        start = time.process_time()
        parser, mapper = StreamParser(), AguiMapper(RunInfo("t", "r"))
        count = len(mapper.start())
        for part in recorded:
            for parsed in parser.parse(part):
                count += len(mapper.feed(parsed))
        count += len(mapper.finish())
        samples.append(time.process_time() - start)
    return statistics.median(samples), count


async def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--repeat", type=int, default=15)
    args.add_argument("--tokens", type=int, default=2000)
    opts = args.parse_args()
    graph = graphs.build(opts.tokens)
    base, parts = await cpu(lambda: floor(graph), opts.repeat)
    mapd, events = await cpu(lambda: mapped(graph), opts.repeat)
    enc, _ = await cpu(lambda: mapped(graph, encode=True), opts.repeat)
    alone, alone_events = await mapper_alone(graph, opts.repeat)
    print(f"tokens={opts.tokens} parts={parts} events={events} repeat={opts.repeat}")
    print("| measure | CPU ms (median) | vs floor |")
    print("|---|---|---|")
    print(f"| floor: astream only | {base * 1e3:.1f} | 1.00 |")
    print(f"| astream + parse + map | {mapd * 1e3:.1f} | {mapd / base:.3f} |")
    print(f"| astream + map + JSON encode | {enc * 1e3:.1f} | {enc / base:.3f} |")
    print(f"| mapper alone | {alone * 1e3:.1f} | {alone / base:.3f} |")
    print(f"mapper alone: {alone / alone_events * 1e6:.2f} µs CPU per AG-UI event")


if __name__ == "__main__":
    asyncio.run(main())
