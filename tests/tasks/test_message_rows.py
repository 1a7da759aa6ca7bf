"""Messages stored by reference in the SQLite file: each message's bytes once
per thread, the checkpoints holding digests; rows nothing refers to any more
go with the checkpoints that did; a rollback, an old file, a listing of every
thread, a deleted thread and a missing row behave."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.pregel import Pregel

from graphwire.protocol import StoreUnavailableError
from graphwire.tasks import SqliteFile
from graphwire.tasks.stores._serde import DIGEST, digests, references

TURNS = 2
CONFIG: RunnableConfig = {"configurable": {"thread_id": "t"}}


@contextlib.asynccontextmanager
async def _reopened(path: Path) -> AsyncIterator[SqliteFile]:
    """The file opened (again: remembering nothing, as after a restart)."""
    again = SqliteFile(path, checkpoint_turns=TURNS)
    await again.acquire()
    try:
        yield again
    finally:
        await again.release()


@pytest.fixture
async def file(tmp_path: Path) -> AsyncIterator[SqliteFile]:
    async with _reopened(tmp_path / "one.sqlite") as opened:
        yield opened


def _chat(file: SqliteFile, keep: int | None = None) -> Pregel[Any, Any]:
    """Answers every message; with ``keep``, drops the oldest beyond it (as a
    graph that trims its history does)."""

    def answer(state: MessagesState) -> dict[str, Any]:
        messages = state["messages"]
        out: list[Any] = [AIMessage(f"answer to {messages[-1].content}", id=f"a-{messages[-1].id}")]
        if keep is not None and len(messages) + 1 > keep:
            out += [RemoveMessage(id=str(m.id)) for m in messages[: len(messages) + 1 - keep]]
        return {"messages": out}

    builder = StateGraph(MessagesState)
    builder.add_node(answer)
    builder.add_edge(START, "answer")
    return builder.compile(checkpointer=file.checkpointer())


def _tables(path: Path) -> tuple[list[bytes], list[int], set[bytes]]:
    """The thread's message rows, its checkpoints' sizes, the digests they refer to."""
    with sqlite3.connect(path) as conn:
        rows = [d for (d,) in conn.execute("SELECT digest FROM graphwire_messages")]
        blobs = [b for (b,) in conn.execute("SELECT checkpoint FROM checkpoints")]
    referred = {d for blob in blobs for payload in references(blob) for d in digests(payload)}
    return rows, [len(blob) for blob in blobs], referred


async def test_a_thread_stores_each_message_once(file: SqliteFile, tmp_path: Path) -> None:
    graph = _chat(file)
    for n in range(12):
        await graph.ainvoke({"messages": [HumanMessage(f"q{n}", id=f"u{n}")]}, CONFIG)
    rows, sizes, referred = _tables(tmp_path / "one.sqlite")
    assert len(rows) == len(set(rows)) == 24 and set(rows) == referred
    # A checkpoint holds 16 bytes per message, not the message.
    assert max(sizes) < 24 * DIGEST + 1_000
    state = (await graph.aget_state(CONFIG)).values["messages"]
    async with _reopened(tmp_path / "one.sqlite") as again:
        read = (await _chat(again).aget_state(CONFIG)).values["messages"]
    plain = JsonPlusSerializer()
    assert read == state == plain.loads_typed(plain.dumps_typed(state))
    assert [m.content for m in read[-2:]] == ["q11", "answer to q11"]


async def test_rows_nothing_refers_to_go_with_their_checkpoints(
    file: SqliteFile, tmp_path: Path
) -> None:
    """A graph that keeps its last six messages: the rows of those it dropped
    go once no kept checkpoint refers to them; every kept checkpoint reads."""
    graph = _chat(file, keep=6)
    for n in range(20):
        await graph.ainvoke({"messages": [HumanMessage(f"q{n}", id=f"u{n}")]}, CONFIG)
        rows, _, referred = _tables(tmp_path / "one.sqlite")
        assert set(rows) == referred, n
    assert len(rows) < 20  # 40 messages were written
    async with _reopened(tmp_path / "one.sqlite") as again:
        history = [s async for s in _chat(again).aget_state_history(CONFIG)]
    assert len(history) > 2 * TURNS
    assert [m.content for m in history[0].values["messages"]][-2:] == ["q19", "answer to q19"]


async def test_an_edit_keeps_both_branches_readable(file: SqliteFile, tmp_path: Path) -> None:
    graph = _chat(file)
    for n in range(6):
        await graph.ainvoke({"messages": [HumanMessage(f"q{n}", id=f"u{n}")]}, CONFIG)
    history = [s async for s in graph.aget_state_history(CONFIG)]
    fork = next(s for s in history if s.metadata and s.metadata.get("source") == "input")
    edited = {"messages": [HumanMessage("q5, edited", id="u5b")]}
    await graph.ainvoke(edited, fork.config)
    for n in range(6, 6 + TURNS + 2):  # the old branch's checkpoints are pruned
        await graph.ainvoke({"messages": [HumanMessage(f"q{n}", id=f"u{n}")]}, CONFIG)
        rows, _, referred = _tables(tmp_path / "one.sqlite")
        assert set(rows) == referred
    async with _reopened(tmp_path / "one.sqlite") as again:
        texts = [m.content for m in (await _chat(again).aget_state(CONFIG)).values["messages"]]
    assert "q5, edited" in texts and "q5" not in texts


async def test_a_put_undone_stores_its_messages_again(
    file: SqliteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that stored a message's row and then failed is rolled back: the next
    checkpoint holding that message stores the row anew, not a dangling digest."""
    saver = file.checkpointer()
    message = HumanMessage("kept", id="u1")
    checkpoint: Any = {
        "v": 4,
        "id": "00000000-0000-6000-8000-000000000001",
        "ts": "2026-12-02T00:00:00+00:00",
        "channel_values": {"messages": [message]},
        "channel_versions": {"messages": "1"},
        "versions_seen": {},
        "updated_channels": ["messages"],
    }
    config: RunnableConfig = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    inner = file._saver
    assert inner is not None
    original = inner.put

    def fails(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise RuntimeError("the disk said no")

    monkeypatch.setattr(inner, "put", fails)
    with pytest.raises(RuntimeError, match="the disk said no"):
        await saver.aput(config, checkpoint, {"source": "input", "step": -1}, {})
    monkeypatch.setattr(inner, "put", original)
    again = {**checkpoint, "id": "00000000-0000-6000-8000-000000000002"}
    await saver.aput(config, again, {"source": "loop", "step": 0}, {})
    async with _reopened(tmp_path / "one.sqlite") as again:
        read = await again.checkpointer().aget_tuple(config)
    assert read is not None and read.checkpoint["channel_values"]["messages"] == [message]


async def test_a_file_written_by_langgraph_reads_and_goes_on(tmp_path: Path) -> None:
    """A file whose checkpoints hold their messages whole (LangGraph's SqliteSaver,
    graphwire before messages were stored by reference)."""
    path = tmp_path / "one.sqlite"
    builder = StateGraph(MessagesState)
    builder.add_node("answer", lambda s: {"messages": [AIMessage("old answer", id="a1")]})
    builder.add_edge(START, "answer")
    async with AsyncSqliteSaver.from_conn_string(str(path)) as plain:
        await builder.compile(checkpointer=plain).ainvoke(
            {"messages": [HumanMessage("old", id="u0")]}, CONFIG
        )
    async with _reopened(path) as file:
        graph = _chat(file)
        await graph.ainvoke({"messages": [HumanMessage("new", id="u1")]}, CONFIG)
        texts = [m.content for m in (await graph.aget_state(CONFIG)).values["messages"]]
        assert texts == ["old", "old answer", "new", "answer to new"]
        assert len([s async for s in graph.aget_state_history(CONFIG)]) == 6


async def test_a_listing_of_every_thread_reads_their_messages(file: SqliteFile) -> None:
    graph = _chat(file)
    for thread in ("t", "u"):
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        await graph.ainvoke({"messages": [HumanMessage(f"to {thread}", id="u0")]}, config)
    newest: dict[str, list[Any]] = {}
    async for item in file.checkpointer().alist(None):  # newest first
        values = item.checkpoint["channel_values"]
        newest.setdefault(item.config["configurable"]["thread_id"], values.get("messages", []))
    assert {t: [m.content for m in ms] for t, ms in newest.items()} == {
        "t": ["to t", "answer to to t"],
        "u": ["to u", "answer to to u"],
    }


async def test_a_deleted_thread_takes_its_rows(file: SqliteFile, tmp_path: Path) -> None:
    graph = _chat(file)
    for thread in ("t", "u"):
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        await graph.ainvoke({"messages": [HumanMessage(f"to {thread}", id="u0")]}, config)
    await file.checkpointer().adelete_thread("t")
    with sqlite3.connect(tmp_path / "one.sqlite") as conn:
        threads = [t for (t,) in conn.execute("SELECT thread_id FROM graphwire_messages")]
    assert threads == ["u", "u"]
    # The memo forgot what it had stored: the thread starts anew, whole.
    await graph.ainvoke({"messages": [HumanMessage("again", id="u1")]}, CONFIG)
    async with _reopened(tmp_path / "one.sqlite") as again:
        state = await _chat(again).aget_state(CONFIG)
    assert [m.content for m in state.values["messages"]] == ["again", "answer to again"]


async def test_a_missing_row_is_a_clear_error(file: SqliteFile, tmp_path: Path) -> None:
    graph = _chat(file)
    await graph.ainvoke({"messages": [HumanMessage("hi", id="u0")]}, CONFIG)
    with sqlite3.connect(tmp_path / "one.sqlite") as conn:
        conn.execute(
            "DELETE FROM graphwire_messages "
            "WHERE rowid = (SELECT MIN(rowid) FROM graphwire_messages)"
        )
    async with _reopened(tmp_path / "one.sqlite") as again:
        with pytest.raises(
            StoreUnavailableError, match="message\\(s\\) the database does not hold"
        ):
            await _chat(again).aget_state(CONFIG)


async def test_every_rollback_makes_stored_rows_unknown(
    file: SqliteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's own failure, a failed COMMIT, a batch SQLite rolled back: each
    changes the epoch, so what the memo knew stored is stored again."""
    epoch = file._rows.epoch

    def fails() -> None:
        file.conn.execute("INSERT INTO graphwire_probe (id, at) VALUES (2, 0)")
        raise RuntimeError("a job's own failure")

    with pytest.raises(RuntimeError):
        await file.call(fails)
    assert file._rows.epoch == epoch + 1

    def finds_nothing() -> None:  # as a lookup of a task that is not there
        file.conn.execute("SELECT * FROM graphwire_probe").fetchall()
        raise LookupError("no such task")

    with pytest.raises(LookupError):
        await file.call(finds_nothing)
    assert file._rows.epoch == epoch + 1  # nothing written: nothing to store again

    def gone() -> None:
        raise StoreUnavailableError("the file is gone")

    monkeypatch.setattr(file._thread, "_check", gone)
    with pytest.raises(StoreUnavailableError):
        await file.call(lambda: file.conn.execute("INSERT INTO graphwire_probe VALUES (3, 0)"))
    assert file._rows.epoch == epoch + 2
    monkeypatch.undo()

    def ends() -> None:
        file.conn.execute("INSERT INTO graphwire_probe (id, at) VALUES (4, 0)")
        file.conn.execute("COMMIT")

    with pytest.raises(Exception, match="ended the shared transaction"):
        await file.call(ends)
    assert file._rows.epoch == epoch + 3
