"""SqliteFile: the task store and the LangGraph checkpointer on one file and thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest
from ag_ui.core import RunFinishedEvent, UserMessage
from langchain_core.messages import HumanMessage

from graphwire.tasks import SqliteFile, SqliteTaskStore, TaskNotFoundError, TaskSpec
from tests.graphs import agent_graph, collect, user_input
from tests.tasks.graphs import review_graph


async def test_checkpointer_serves_chat_history_forks_and_sync_calls(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "one.sqlite")
    await file.acquire()
    try:
        graph = agent_graph(["first", "second", "redo"]).copy(
            update={"checkpointer": file.checkpointer()}
        )
        await collect(graph, user_input("hi", run="r1", msg_id="u1"))
        second = user_input("more", run="r2", msg_id="u2")
        second.messages.insert(0, UserMessage(id="u1", content="hi"))
        await collect(graph, second)
        config = {"configurable": {"thread_id": "t1"}}
        history = [s async for s in graph.aget_state_history(config)]
        assert len(history) >= 4
        # Regenerate from the first message: a fork found through the history.
        await collect(graph, user_input("hi", run="r3", msg_id="u1"))
        state = await graph.aget_state(config)
        assert [m.content for m in state.values["messages"]] == ["hi", "redo"]
        # The sync API works too (called from this thread, not the database thread).
        assert graph.get_state(config).values == state.values
    finally:
        await file.release()


async def test_interrupts_survive_in_the_file(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "one.sqlite")
    await file.acquire()
    try:
        graph = review_graph().copy(update={"checkpointer": file.checkpointer()})
        events = await collect(graph, user_input("deploy"))
        finished = events[-1]
        assert isinstance(finished, RunFinishedEvent)
        assert finished.outcome is not None
        assert finished.outcome.type == "interrupt"
        [pending] = finished.outcome.interrupts
        resume = user_input(
            "deploy",
            run="r2",
            resume=[{"interruptId": pending.id, "status": "resolved", "payload": "ok"}],
        )
        await collect(graph, resume)
        state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
        assert state.values["messages"][-1].content == "approved: ok"
    finally:
        await file.release()


async def test_shared_file_closes_with_its_last_user(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "one.sqlite")
    await file.acquire()
    store = await SqliteTaskStore.on(file)
    await file.acquire()  # a second user, as the server's checkpointer is
    task = await store.create(TaskSpec(agent="a", prompt="x"))
    with pytest.raises(TaskNotFoundError):  # errors raised on the thread reach the caller
        await store.get("missing")
    await file.release()
    assert (await store.get(task.id)).id == task.id  # still open for the other user
    saver = file.checkpointer()
    await saver.aput_writes(
        {"configurable": {"thread_id": "x", "checkpoint_ns": "", "checkpoint_id": "c"}},
        [("messages", [HumanMessage("hi")])],
        "task-1",
    )
    await file.release()
    with pytest.raises(RuntimeError, match="not open"):
        await store.get(task.id)
    reopened = await SqliteTaskStore.open(tmp_path / "one.sqlite")
    try:
        assert (await reopened.get(task.id)).id == task.id
    finally:
        await reopened.aclose()


async def test_jobs_commit_together_but_fail_alone(tmp_path: Path) -> None:
    path = tmp_path / "one.sqlite"
    file = SqliteFile(path)
    await file.acquire("CREATE TABLE IF NOT EXISTS t (x INTEGER)")

    def insert(n: int) -> int:
        file.conn.execute("INSERT INTO t VALUES (?)", (n,))
        if n % 2:
            raise ValueError(n)  # after writing: the job's write must be undone
        return n

    try:
        results = await asyncio.gather(
            *(file.call(insert, n) for n in range(20)), return_exceptions=True
        )
        assert [r for r in results if not isinstance(r, BaseException)] == list(range(0, 20, 2))
        assert sum(isinstance(r, ValueError) for r in results) == 10
        # What a caller was told is committed: another connection (process) sees it.
        with contextlib.closing(sqlite3.connect(path)) as other:
            rows = [x for (x,) in other.execute("SELECT x FROM t ORDER BY x")]
        assert rows == list(range(0, 20, 2))
    finally:
        await file.release()
