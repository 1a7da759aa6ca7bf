"""Benchmark: what capturing LangChain callback custom events costs a run.

Every run's config carries graphwire's one callback handler
(``runs/_dispatch.py``: custom events into the custom stream, every other
callback ignored). This measures, in one process, graphwire's stream modes
iterated with ``graph.astream``:

  without   no handler (the floor the server benchmark uses)
  with      the handler in ``config["callbacks"]``, as every graphwire run has it

for the 23-token chat and the 2,000-token stream of bench/graphs.py, and what
one ``adispatch_custom_event`` costs end to end when an agent sends them.
Without and with alternate for --rounds rounds; figures are medians.

Run: .venv/bin/python bench/callbacks_bench.py [--rounds 7] [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from langchain_core.callbacks import adispatch_custom_event
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, MessagesState, StateGraph

# bench/ is on sys.path when a script here is run: graphs is bench/graphs.py.
import graphs
from graphwire.cli import settle_heap
from graphwire.protocol import STREAM_MODES
from graphwire.runs import FORWARD_DISPATCHED_EVENTS

DISPATCHES = 100


def dispatching() -> Any:
    """A node that sends DISPATCHES custom events, as copilotkit_emit_state does."""

    async def node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        for step in range(DISPATCHES):
            await adispatch_custom_event("progress", {"step": step}, config=config)
        return {}

    builder = StateGraph(MessagesState)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    return builder.compile()


async def one_run(graph: Any, callbacks: list[Any]) -> int:
    config: RunnableConfig = {"callbacks": callbacks}
    count = 0
    async for _ in graph.astream(
        {"messages": [HumanMessage("go", id="u")]},
        config,
        stream_mode=list(STREAM_MODES),
        subgraphs=True,
        version="v2",
    ):
        count += 1
    return count


async def batch(graph: Any, callbacks: list[Any], runs: int) -> float:
    """CPU ms per run over ``runs`` sequential runs."""
    start = time.process_time()
    for _ in range(runs):
        await one_run(graph, callbacks)
    return (time.process_time() - start) * 1e3 / runs


async def compare(graph: Any, rounds: int, runs: int) -> tuple[float, float]:
    await batch(graph, [], 5)
    await batch(graph, [FORWARD_DISPATCHED_EVENTS], 5)
    without, with_ = [], []
    for _ in range(rounds):
        without.append(await batch(graph, [], runs))
        with_.append(await batch(graph, [FORWARD_DISPATCHED_EVENTS], runs))
    return statistics.median(without), statistics.median(with_)


async def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--rounds", type=int, default=7)
    args.add_argument("--runs", type=int, default=200)
    opts = args.parse_args()
    settle_heap()
    print("| graph | without ms/run | with ms/run | with / without |")
    print("|---|---|---|---|")
    rows = [("chat (23 tok)", graphs.chat(), opts.runs), ("long (2,000 tok)", graphs.long(), 10)]
    for name, graph, runs in rows:
        without, with_ = await compare(graph, opts.rounds, runs)
        print(f"| {name} | {without:.3f} | {with_:.3f} | {with_ / without:.3f} |")
    without, with_ = await compare(dispatching(), opts.rounds, 20)
    per_event = (with_ - without) / DISPATCHES * 1e3
    print(f"| {DISPATCHES} custom events | {without:.3f} | {with_:.3f} | {with_ / without:.3f} |")
    print(f"one captured custom event: ~{per_event:.1f} µs CPU more than an uncaptured one")


if __name__ == "__main__":
    asyncio.run(main())
