"""Graphs the server tests serve."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.pregel import Pregel

from graphwire.server import Agent


def slow_graph(finished: list[str], steps: int = 40, delay: float = 0.05) -> Pregel[Any, Any]:
    """Writes a CUSTOM event every ``delay`` seconds; records when it completes."""

    async def work(state: MessagesState) -> dict[str, Any]:
        write = get_stream_writer()
        for step in range(steps):
            write({"name": "tick", "value": step})
            await asyncio.sleep(delay)
        finished.append("done")
        return {"messages": [AIMessage(content="finished", id=f"done-{len(finished)}")]}

    builder = StateGraph(MessagesState)
    builder.add_node(work)
    builder.add_edge(START, "work")
    return builder.compile(checkpointer=InMemorySaver())


def slow_agent(finished: list[str], **kwargs: Any) -> Agent:
    return Agent("slow", slow_graph(finished, **kwargs))
