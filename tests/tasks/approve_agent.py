"""An agent that asks before acting; each action appends a line to the file
``AGENT_ACTIONS_FILE`` names (how often the code after ``interrupt()`` ran,
whatever process ran it). ``slow`` answers slowly, with no question."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import interrupt


async def _agent(state: MessagesState) -> dict[str, Any]:
    text = state["messages"][-1].text
    if text.startswith("slow"):
        await asyncio.sleep(0.5)
        return {"messages": [AIMessage(f"slowly: {text}")]}
    answer = interrupt({"message": f"act on {text}?"})
    with open(os.environ["AGENT_ACTIONS_FILE"], "a") as actions:
        actions.write(f"{text} {os.getpid()}\n")
    await asyncio.sleep(0.3)  # the action takes a while
    return {"messages": [AIMessage(f"acted on {text}: {answer}")]}


_builder = StateGraph(MessagesState)
_builder.add_node("agent", _agent)
_builder.add_edge(START, "agent")
graph = _builder.compile()
