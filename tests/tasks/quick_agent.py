"""A task agent that answers at once (many tasks, many processes)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph


def _agent(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage(f"done: {state['messages'][-1].text}")]}


_builder = StateGraph(MessagesState)
_builder.add_node("agent", _agent)
_builder.add_edge(START, "agent")
graph = _builder.compile()
