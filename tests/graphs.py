"""Real LangGraph graphs on the scripted fake model, shared by the tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ag_ui.core import BaseEvent, RunAgentInput, TextMessageContentEvent, UserMessage
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.pregel import Pregel

from graphwire.runs import GraphRun
from graphwire.testing import ScriptedChatModel


@tool
def get_weather(city: str) -> str:
    """Tell the weather in a city."""
    return f"sunny in {city}"


def call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def agent_graph(
    script: Sequence[Any],
    tools: Sequence[Any] = (get_weather,),
    model: ScriptedChatModel | None = None,
    **model_kwargs: Any,
) -> Pregel[Any, Any]:
    """agent <-> tools loop on a scripted model, with an in-memory checkpointer."""
    model = model or ScriptedChatModel(script=list(script), **model_kwargs)

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(list(tools)))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


def user_input(
    text: str = "hi", *, thread: str = "t1", run: str = "r1", msg_id: str = "u1", **extra: Any
) -> RunAgentInput:
    fields: dict[str, Any] = {
        "state": {},
        "tools": [],
        "context": [],
        "forwarded_props": {},
        "protocol_version": "1.0",
    }
    fields.update(extra)
    return RunAgentInput(
        thread_id=thread, run_id=run, messages=[UserMessage(id=msg_id, content=text)], **fields
    )


class Collected(list[BaseEvent]):
    """An EventSink keeping every event as mapped: a ``put_delta`` is its event
    with the new delta (nothing merged)."""

    def put(self, event: BaseEvent) -> None:
        self.append(event)

    def put_delta(self, event: TextMessageContentEvent, delta: str) -> None:
        self.append(event.model_copy(update={"delta": delta}))


async def collect(graph: Pregel[Any, Any], run: RunAgentInput) -> list[BaseEvent]:
    events = Collected()
    await GraphRun(graph, run).run(events)
    return list(events)


def hand_built(text: str, msg_id: str = "hb1") -> AIMessage:
    return AIMessage(content=text, id=msg_id)
