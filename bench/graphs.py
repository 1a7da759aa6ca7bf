"""Graphs for bench/server_bench.py: a 23-token chat and a 2,000-token stream."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.pregel import Pregel

from graphwire.testing import ScriptedChatModel


class RepeatingModel(ScriptedChatModel):
    """Answers every call with the same text (a fresh message id each time)."""

    text: str = ""

    def reply(self, messages: list[BaseMessage]) -> AIMessage | str:
        return self.text


def build(tokens: int) -> Pregel[Any, Any]:
    words = (tokens + 1) // 2
    model = RepeatingModel(text=" ".join(["tok"] * words))

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node(agent)
    builder.add_edge(START, "agent")
    return builder.compile()


def chat() -> Pregel[Any, Any]:
    return build(23)


def long() -> Pregel[Any, Any]:
    return build(2000)


def quiet() -> Pregel[Any, Any]:
    """Says nothing for a while, then one word: a slow stream kept alive by keepalives."""

    async def wait(state: MessagesState) -> dict[str, Any]:
        await asyncio.sleep(8)
        return {"messages": [AIMessage(content="done")]}

    builder = StateGraph(MessagesState)
    builder.add_node(wait)
    builder.add_edge(START, "wait")
    return builder.compile()


def trivial() -> Pregel[Any, Any]:
    """One async node, one whole (not streamed) reply from the fake model."""
    model = RepeatingModel(text="done", disable_streaming=True)

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node(agent)
    builder.add_edge(START, "agent")
    return builder.compile()
