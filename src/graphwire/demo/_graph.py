"""The keyless demo agent: streaming, a backend tool, reasoning, shared state,
a human approval with ``interrupt()``, and delegation to background copies of
itself with the task tools."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.pregel import Pregel
from langgraph.types import interrupt

from graphwire.demo._model import DemoChatModel
from graphwire.protocol import is_cancelled_resume
from graphwire.tasks import task_tools


@tool
def get_weather(city: str) -> str:
    """Tell the weather in a city."""
    return f"it is sunny in {city}"


@tool
def deploy(target: str) -> str:
    """Deploy to a target, after a human approves."""
    answer = interrupt(
        {
            "message": f"Deploy to {target}?",
            "reason": "approval",
            "responseSchema": {"type": "object", "properties": {"approved": {"type": "boolean"}}},
        }
    )
    if is_cancelled_resume(answer) or not (isinstance(answer, dict) and answer.get("approved")):
        return f"deployment to {target} was not approved"
    return f"deployed to {target}"


class DemoState(MessagesState):
    turns: int
    last_tool: str


def build_demo_graph() -> Pregel[Any, Any]:
    """A fresh demo graph (no checkpointer: graphwire provides one)."""
    model = DemoChatModel()
    tools = [get_weather, deploy, *task_tools()]

    def agent(state: DemoState) -> dict[str, Any]:
        reply = model.invoke(state["messages"])
        update: dict[str, Any] = {"messages": [reply], "turns": state.get("turns", 0) + 1}
        if reply.tool_calls:
            update["last_tool"] = reply.tool_calls[0]["name"]
        return update

    builder = StateGraph(DemoState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()
