"""Task tools in an agent graph: delegate to a copy of itself, follow the work."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.pregel import Pregel

from graphwire.tasks import (
    MemoryTaskStore,
    TaskQuery,
    TaskRunner,
    TaskSpec,
    TaskState,
    check_async_task,
    list_async_tasks,
    start_async_task,
    task_tools,
    update_async_task,
)
from graphwire.tasks._tools import NO_RUNNER, cancel_async_task
from graphwire.testing import ScriptedChatModel
from tests.graphs import agent_graph, call
from tests.tasks.graphs import logged_runs


class Delegator(ScriptedChatModel):
    """Delegates "sub:" work to a background copy of itself; does sub work itself."""

    def reply(self, messages: list[BaseMessage]) -> AIMessage | str:
        said = [str(m.content) for m in messages if m.type == "human"]
        if said[-1].startswith("sub:"):
            return "finished " + " + ".join(said)
        if messages[-1].type == "human":
            args = {"description": "sub: crunch the numbers"}
            return AIMessage("", tool_calls=[call("start_async_task", args, "c1")])
        return f"delegated -> {messages[-1].content}"


def agent_graph_with(model: ScriptedChatModel) -> Pregel[Any, Any]:
    return agent_graph([], tools=task_tools(), model=model)


@pytest.fixture
async def runner() -> AsyncIterator[TaskRunner]:
    store = MemoryTaskStore()
    async with TaskRunner(store, {"boss": agent_graph_with(Delegator())}) as running:
        yield running


async def test_an_agent_delegates_to_a_copy_of_itself(runner: TaskRunner) -> None:
    parent = await runner.enqueue(TaskSpec(agent="boss", prompt="plan the quarter"))
    done = await runner.wait_settled(parent.id, 10)
    [child] = (await runner.list_tasks(TaskQuery(parent_task_id=parent.id))).tasks
    assert done.result == f"delegated -> Launched async subagent. task_id: {child.id}"
    assert (child.agent, child.parent_run_id, child.parent_thread_id) == (
        "boss",
        done.run_ids[0],
        parent.thread_id,
    )
    finished = await runner.wait_settled(child.id, 10)
    assert (finished.state, finished.result) == (
        TaskState.DONE,
        "finished sub: crunch the numbers",
    )
    [run] = await logged_runs(runner.store, child.id)
    assert run[0].parent_run_id == done.run_ids[0]  # type: ignore[attr-defined]


async def test_tools_follow_and_drive_the_work(runner: TaskRunner) -> None:
    parent = await runner.enqueue(TaskSpec(agent="boss", prompt="plan"))
    await runner.wait_settled(parent.id, 10)
    [child] = (await runner.list_tasks(TaskQuery(parent_task_id=parent.id))).tasks
    await runner.wait_settled(child.id, 10)
    config = {"configurable": runner.context("boss", "run-x", parent.thread_id, task_id=parent.id)}

    checked = json.loads(await check_async_task.ainvoke({"task_id": child.id}, config=config))
    assert checked["status"] == "success"
    assert checked["thread_id"] == child.thread_id
    assert checked["result"] == "finished sub: crunch the numbers"
    unknown = await check_async_task.ainvoke({"task_id": "nope"}, config=config)
    assert unknown == "No tracked task found for task_id: 'nope'"

    listed = await list_async_tasks.ainvoke({}, config=config)
    assert listed.startswith("1 tracked task(s):\n")
    assert f"task_id: {child.id}  agent: boss  status: success" in listed
    none = await list_async_tasks.ainvoke({"status_filter": "error"}, config=config)
    assert none == "No async subagent tasks tracked."

    updated = await update_async_task.ainvoke(
        {"task_id": child.id, "message": "sub: and the costs"}, config=config
    )
    assert updated == f"Updated async subagent. task_id: {child.id}"
    again = await runner.wait_settled(child.id, 10)
    assert again.result == "finished sub: crunch the numbers + sub: and the costs"

    refused = await cancel_async_task.ainvoke({"task_id": child.id}, config=config)
    assert refused.startswith(f"Failed to cancel task {child.id}: cannot cancel")


async def start(args: dict[str, Any], config: Any = None) -> str:
    """Call start_async_task as a graph's ToolNode does: with a whole tool call."""
    call = {"name": "start_async_task", "args": args, "id": "call-1", "type": "tool_call"}
    message = await start_async_task.ainvoke(call, config=config)
    return str(message.content)


async def test_start_reports_bad_requests_as_text(runner: TaskRunner) -> None:
    config = {"configurable": runner.context("boss", "run-x", "thread-x")}
    wrong = await start({"description": "x", "subagent_type": "ghost"}, config)
    assert wrong == "Unknown async subagent type `ghost`. Available types: `boss`"
    blank = await start({"description": "  "}, config)
    assert blank.startswith("Failed to launch async subagent 'boss': a task needs")
    started = await start({"description": "sub: go"}, config)
    task_id = started.removeprefix("Launched async subagent. task_id: ")
    cancelled = await cancel_async_task.ainvoke({"task_id": task_id}, config=config)
    assert cancelled == f"Cancelled async subagent task: {task_id}"
    assert (await runner.wait_settled(task_id, 10)).state is TaskState.CANCELLED


async def test_outside_a_runner_start_says_so() -> None:
    assert await start({"description": "x"}) == NO_RUNNER


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        (check_async_task, {"task_id": "x"}),
        (update_async_task, {"task_id": "x", "message": "y"}),
        (cancel_async_task, {"task_id": "x"}),
        (list_async_tasks, {}),
    ],
)
async def test_outside_a_runner_the_tools_say_so(tool: Any, args: dict[str, Any]) -> None:
    assert await tool.ainvoke(args) == NO_RUNNER


class BoardState(MessagesState):
    tasks: list[dict[str, str]]


def board_graph() -> Pregel[Any, Any]:
    """The delegating agent, with a state that declares ``tasks``."""
    model = Delegator()

    def agent(state: BoardState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(BoardState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(task_tools()))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


async def test_a_declared_tasks_key_gets_the_thread_summary() -> None:
    graph = board_graph()
    async with TaskRunner(MemoryTaskStore(), {"boss": graph}) as runner:
        parent = await runner.enqueue(TaskSpec(agent="boss", prompt="plan"))
        await runner.wait_settled(parent.id, 10)
        [child] = (await runner.list_tasks(TaskQuery(parent_task_id=parent.id))).tasks
        state = await graph.aget_state({"configurable": {"thread_id": parent.thread_id}})
        assert state.values["tasks"] == [
            {"id": child.id, "title": "sub: crunch the numbers", "state": "queued"}
        ]
        assert state.values["messages"][-1].content.startswith("delegated -> Launched")
