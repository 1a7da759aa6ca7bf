"""A plain LangGraph agent served by graphwire.

    graphwire serve examples/plain_agent/agent.py:graph

It runs keyless on graphwire's scripted fake model; put a real chat model in
``MODEL`` (e.g. ``langchain.chat_models.init_chat_model("openai:gpt-4.1")``)
and nothing else changes. Given ``task_tools()``, it can delegate work to
background copies of itself.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from graphwire.tasks import task_tools
from graphwire.testing import ScriptedChatModel


@tool
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


class CountingModel(ScriptedChatModel):
    """Counts words with the tool, then answers; stands in for a real model."""

    def reply(self, messages: list[BaseMessage]) -> AIMessage | str:
        last = messages[-1]
        if last.type == "tool":
            return f"That text has {last.content} words."
        call = {"name": "word_count", "args": {"text": last.text}, "id": f"call-{len(messages)}"}
        return AIMessage("", tool_calls=[{**call, "type": "tool_call"}])


TOOLS = [word_count, *task_tools()]
MODEL = CountingModel().bind_tools(TOOLS)


def agent(state: MessagesState) -> dict[str, Any]:
    return {"messages": [MODEL.invoke(state["messages"])]}


builder = StateGraph(MessagesState)
builder.add_node("agent", agent)
builder.add_node("tools", ToolNode(TOOLS))
builder.add_edge(START, "agent")
builder.add_conditional_edges("agent", tools_condition)
builder.add_edge("tools", "agent")
graph = builder.compile()  # no checkpointer: graphwire gives it one
