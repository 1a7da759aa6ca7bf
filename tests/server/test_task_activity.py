"""A task started in a foreground run shows up in its stream as an AG-UI activity."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonpatch
from ag_ui.core import ActivityDeltaEvent, ActivitySnapshotEvent, EventType
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.pregel import Pregel

from graphwire.server import Agent
from graphwire.tasks import TASKS_CONFIG_KEY, MemoryTaskStore, TaskStore, task_tools
from tests.agui_checks import check_run
from tests.server.conftest import live_server, read_events, run_body
from tests.tasks.test_tools import Delegator


def pausing_delegator() -> Pregel[Any, Any]:
    """Delegates, then answers only once the task is done: its changes stream meanwhile."""
    model = Delegator()

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def pause(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        # Stay open until the delegated task is done, so its changes reach this stream.
        context = config["configurable"][TASKS_CONFIG_KEY]
        task_id = str(state["messages"][-1].content).rsplit(" ", 1)[-1]
        await context.runner.wait_settled(task_id, 10)
        await asyncio.sleep(0.05)  # the last change's delta is appended right after
        return {}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(task_tools()))
    builder.add_node("pause", pause)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "pause")
    builder.add_edge("pause", "agent")
    return builder.compile(checkpointer=InMemorySaver())


async def test_snapshot_after_the_tool_call_then_deltas_while_the_run_streams() -> None:
    store = MemoryTaskStore()

    @contextlib.asynccontextmanager
    async def tasks() -> AsyncIterator[TaskStore]:
        yield store

    agents = [Agent("boss", pausing_delegator())]
    async with (
        live_server(agents, tasks=tasks) as url,
        httpx.AsyncClient(timeout=10) as client,
    ):
        _, events = await read_events(
            client, "POST", f"{url}/agents/boss", json=run_body(text="plan")
        )
    check_run(events)
    types = [e.type for e in events]
    at = types.index(EventType.ACTIVITY_SNAPSHOT)
    assert types.index(EventType.TOOL_CALL_END) < at < types.index(EventType.TOOL_CALL_RESULT)
    snapshot = events[at]
    assert isinstance(snapshot, ActivitySnapshotEvent)
    assert snapshot.activity_type == "graphwire.task"
    content: dict[str, Any] = dict(snapshot.content)
    task_id = content["taskId"]
    assert content["state"] == "queued"
    assert content["threadId"] == task_id
    assert content["eventsUrl"] == f"{url}/tasks/{task_id}/events"
    states = []
    for event in events[at + 1 :]:
        if isinstance(event, ActivityDeltaEvent):
            assert event.message_id == snapshot.message_id
            ops = [op.model_dump(mode="json", exclude_none=True) for op in event.patch]
            content = jsonpatch.apply_patch(content, ops)
            states.append(content["state"])
    assert states[-1] == "done"  # every change reached the stream, in order, as patches
    assert set(states) <= {"ongoing", "done"}
    assert content["result"] == "finished sub: crunch the numbers"
    assert types[-1] == EventType.RUN_FINISHED
