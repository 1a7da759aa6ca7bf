"""The checkpoint serializer alone: a turn's two reads and three puts of a
400-message history, with LangGraph's ``JsonPlusSerializer`` and with
graphwire's ``MessageMemo`` (best of five rounds of twenty turns).

    .venv/bin/python bench/memo_bench.py [--messages 400]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from graphwire.tasks.stores._serde import MessageMemo

SCOPE: Any = {"configurable": {"thread_id": "bench", "checkpoint_ns": ""}}


def _history(size: int) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for n in range(size // 2):
        messages.append(HumanMessage(f"turn {n}: hello there", id=f"u{n}"))
        messages.append(AIMessage("tok " * 12, id=f"run-{n}", response_metadata={"model": "x"}))
    return messages


def _best_ms(turn: Callable[[], None]) -> float:
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            turn()
        rounds.append((time.perf_counter() - start) / 20 * 1000)
    return round(min(rounds), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400)
    args = parser.parse_args()
    checkpoint = {"v": 4, "id": "c", "channel_values": {"messages": _history(args.messages)}}
    plain, memo = JsonPlusSerializer(), MessageMemo()
    data = plain.dumps_typed(checkpoint)

    def langgraph() -> None:
        for _ in range(2):
            plain.loads_typed(data)
        for _ in range(3):
            plain.dumps_typed(checkpoint)

    def memoized() -> None:
        for _ in range(2):
            with memo.scope(SCOPE):
                memo.loads_typed(data)
        for _ in range(3):
            with memo.scope(SCOPE):
                memo.dumps_typed(checkpoint)

    report = {"messages": args.messages, "langgraph_ms": _best_ms(langgraph)}
    report["memo_ms"] = _best_ms(memoized)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
