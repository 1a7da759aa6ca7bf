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
from langgraph.types import interrupt
from pydantic import BaseModel

from graphwire.protocol import StoreUnavailableError
from graphwire.tasks import SqliteFile
from graphwire.tasks.stores._serde import DIGEST, MessageMemo, _Scope, digests, references

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
    checkpoint = _checkpoint(1, [message])
    config = ROOT
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
    await saver.aput(config, _checkpoint(2, [message]), {"source": "loop", "step": 0}, {})
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


async def test_a_listing_of_a_thread_reads_its_subgraphs_messages(file: SqliteFile) -> None:
    """A listing of a thread without ``checkpoint_ns`` holds its subgraphs'
    checkpoints too (LangGraph's listing): each reads its own namespace's
    rows, in LangGraph's order, and with a limit, as LangGraph's."""

    def think(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("thinking in the subgraph", id="sub-1")]}

    def ask(state: MessagesState) -> dict[str, Any]:
        interrupt("ok?")
        return {}

    inner = StateGraph(MessagesState)
    inner.add_node(think)
    inner.add_node(ask)
    inner.add_edge(START, "think")
    inner.add_edge("think", "ask")
    outer = StateGraph(MessagesState)
    outer.add_node("inner", inner.compile())
    outer.add_edge(START, "inner")
    saver = file.checkpointer()
    graph = outer.compile(checkpointer=saver)
    await graph.ainvoke({"messages": [HumanMessage("hi", id="u1")]}, CONFIG)
    listed = [item async for item in saver.alist(CONFIG)]
    with sqlite3.connect(file.path) as conn:  # LangGraph's order
        query = "SELECT checkpoint_id FROM checkpoints WHERE thread_id = 't' ORDER BY 1 DESC"
        order = [c for (c,) in conn.execute(query)]
    assert [item.config["configurable"]["checkpoint_id"] for item in listed] == order
    assert len({item.config["configurable"]["checkpoint_ns"] for item in listed}) == 2
    texts = {
        m.content for item in listed for m in item.checkpoint["channel_values"].get("messages", [])
    }
    assert "thinking in the subgraph" in texts
    assert [i.config for i in [x async for x in saver.alist(CONFIG, limit=3)]] == [
        i.config for i in listed[:3]
    ]


async def test_a_listing_decodes_only_what_it_returns(
    file: SqliteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing of every thread, or of a thread's namespaces, with a limit
    decodes the checkpoints it returns, not a page of each thread's."""
    graph = _chat(file)
    for n in range(8):
        config: RunnableConfig = {"configurable": {"thread_id": f"t{n}"}}
        await graph.ainvoke({"messages": [HumanMessage("hi", id="u0")]}, config)
    decoded: list[bytes] = []
    resolved = _Scope.resolved

    def counted(self: _Scope, payload: bytes, *args: Any) -> list[Any]:
        decoded.append(payload)
        return resolved(self, payload, *args)

    monkeypatch.setattr(_Scope, "resolved", counted)
    listed = [item async for item in file.checkpointer().alist(None, limit=3)]
    holding = [i for i in listed if i.checkpoint["channel_values"].get("messages")]
    assert len(listed) == 3 and len(decoded) == len(holding) > 0


async def test_a_deleted_thread_takes_its_rows(file: SqliteFile, tmp_path: Path) -> None:
    graph = _chat(file)
    for thread in ("t", "u"):
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        await graph.ainvoke({"messages": [HumanMessage(f"to {thread}", id="u0")]}, config)
    await file.checkpointer().adelete_thread("t")
    with sqlite3.connect(tmp_path / "one.sqlite") as conn:
        threads = [t for (t,) in conn.execute("SELECT thread_id FROM graphwire_messages")]
    assert threads == ["u", "u"]


def _checkpoint(n: int, messages: list[Any], version: int | None = None) -> Any:
    return {
        "v": 4,
        "id": f"00000000-0000-6000-8000-{n:012d}",
        "ts": "2026-12-02T00:00:00+00:00",
        "channel_values": {"messages": messages},
        "channel_versions": {"messages": str(version or n)},
        "versions_seen": {},
        "updated_channels": ["messages"],
    }


ROOT: RunnableConfig = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}


def _after(n: int) -> RunnableConfig:
    """The config a put of the checkpoint after ``_checkpoint(n)`` gets."""
    return {"configurable": {**ROOT["configurable"], "checkpoint_id": _checkpoint(n, [])["id"]}}


@pytest.mark.parametrize("how", ["deleted", "swept"])
@pytest.mark.parametrize("where", ["here", "by another handle"])
@pytest.mark.parametrize("source", ["loop", "input"])
async def test_rows_gone_are_stored_again_by_whoever_refers_to_them(
    file: SqliteFile, tmp_path: Path, how: str, where: str, source: str
) -> None:
    """The thread's rows go (its deletion, a sweep), here or through another
    handle on the file (another process): the same message objects put again
    are stored again, never referred to while gone — in a step's checkpoint,
    or in an input checkpoint that copies the one put before."""
    messages = [HumanMessage("kept", id="u1"), AIMessage("also kept", id="a1")]
    saver = file.checkpointer()
    await saver.aput(ROOT, _checkpoint(1, messages), {"source": "loop", "step": 0}, {})
    async with contextlib.AsyncExitStack() as stack:
        other = file
        if where != "here":
            other = await stack.enter_async_context(_reopened(tmp_path / "one.sqlite"))
        if how == "deleted":
            await other.checkpointer().adelete_thread("t")
        else:
            ids = [_checkpoint(1, [])["id"]]
            await other.call(lambda: other._rows.sweep("t", gone=ids, kept=[]))
    with sqlite3.connect(tmp_path / "one.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM graphwire_messages").fetchone() == (0,)
    version = 1 if source == "input" else 2
    copy = _checkpoint(2, messages, version)
    await saver.aput(_after(1), copy, {"source": source, "step": 1}, {})
    async with _reopened(tmp_path / "one.sqlite") as again:
        read = await again.checkpointer().aget_tuple(ROOT)
    assert read is not None and read.checkpoint["channel_values"]["messages"] == messages


async def test_an_input_checkpoint_refers_to_what_its_parent_did(file: SqliteFile) -> None:
    """A turn's input checkpoint copies the checkpoint just read where a
    channel's version is unchanged: it refers to the parent's rows without
    checking the history again. Any other checkpoint at that version — a
    step whose node changed a message in place and wrote nothing, an input
    checkpoint whose parent is not the last put — holds what is there now,
    as LangGraph's SqliteSaver would."""
    messages = [HumanMessage("question", id="u1"), AIMessage("answer", id="a1")]
    saver = file.checkpointer()

    async def put(n: int, source: str, after: int) -> str:
        parent = _after(after) if after else ROOT
        await saver.aput(parent, _checkpoint(n, messages, 1), {"source": source, "step": n}, {})
        read = await saver.aget_tuple(ROOT)
        assert read is not None and read.checkpoint["id"] == _checkpoint(n, [])["id"]
        return str(read.checkpoint["channel_values"]["messages"][1].content)

    assert await put(1, "loop", 0) == "answer"
    messages[1].content = "changed in place"  # never between a read and its input put
    assert await put(2, "input", 1) == "answer"  # the parent's references
    assert await put(3, "loop", 2) == "changed in place"
    messages[1].content = "changed again"
    assert await put(4, "input", 1) == "changed again"  # its parent is not the last put


async def test_a_sweep_of_one_thread_leaves_what_another_stored(file: SqliteFile) -> None:
    """Only the thread whose rows went stores its history again."""
    graph = _chat(file)
    for n in range(3):
        await graph.ainvoke({"messages": [HumanMessage(f"q{n}", id=f"u{n}")]}, CONFIG)
    trimmed = _chat(file, keep=2)
    other: RunnableConfig = {"configurable": {"thread_id": "u"}}
    for n in range(3 + 2 * TURNS):  # its sweeps delete rows
        await trimmed.ainvoke({"messages": [HumanMessage(f"q{n}", id=f"u{n}")]}, other)
    stored: list[tuple[str, str]] = []
    store = file._rows.store

    def counted(scope: tuple[str, str], digest: bytes, data: bytes) -> None:
        stored.append(scope)
        store(scope, digest, data)

    file._rows.store = counted  # type: ignore[method-assign]
    await graph.ainvoke({"messages": [HumanMessage("q3", id="u3")]}, CONFIG)
    assert stored == [("t", "")] * 2  # the turn's two messages, not the thread's eight


async def test_langgraphs_own_saver_refuses_a_checkpoint_by_reference(
    file: SqliteFile, tmp_path: Path
) -> None:
    """Not a state whose messages read as None: an error."""
    await _chat(file).ainvoke({"messages": [HumanMessage("hi", id="u0")]}, CONFIG)
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "one.sqlite")) as plain:
        with pytest.raises(NotImplementedError, match="Unknown serialization type"):
            await plain.aget_tuple(CONFIG)


async def test_a_write_that_looks_like_a_checkpoint_is_stored_whole(
    file: SqliteFile, tmp_path: Path
) -> None:
    """Only a checkpoint refers to rows (the sweep reads only checkpoints)."""
    message = HumanMessage("in a write", id="u1")
    saver = file.checkpointer()
    config = await saver.aput(ROOT, _checkpoint(1, []), {"source": "input", "step": -1}, {})
    value = {"channel_values": {"messages": [message]}}
    await saver.aput_writes(config, [("extra", value)], "task-1")
    with sqlite3.connect(tmp_path / "one.sqlite") as conn:
        blobs = [b for (b,) in conn.execute("SELECT value FROM writes")]
        assert conn.execute("SELECT COUNT(*) FROM graphwire_messages").fetchone() == (0,)
    assert len(blobs) == 1 and references(blobs[0]) == []
    async with _reopened(tmp_path / "one.sqlite") as again:
        read = await again.checkpointer().aget_tuple(config)
    assert read is not None and read.pending_writes == [("task-1", "extra", value)]


async def test_a_corrupt_checkpoint_is_the_store_failing(file: SqliteFile, tmp_path: Path) -> None:
    graph = _chat(file)
    for n in range(2 + TURNS):
        await graph.ainvoke({"messages": [HumanMessage(f"q{n}", id=f"u{n}")]}, CONFIG)
    with sqlite3.connect(tmp_path / "one.sqlite") as conn:
        newest = conn.execute("SELECT MAX(checkpoint_id) FROM checkpoints").fetchone()[0]
        conn.execute("UPDATE checkpoints SET checkpoint = x'c1' WHERE checkpoint_id < ?", (newest,))
    with pytest.raises(StoreUnavailableError, match="cannot be read"):
        await graph.ainvoke({"messages": [HumanMessage("next", id="u9")]}, CONFIG)


async def test_a_missing_row_is_a_clear_error(file: SqliteFile, tmp_path: Path) -> None:
    """Even when another thread holds the same message."""
    graph = _chat(file)
    for thread in ("u", "t"):
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        await graph.ainvoke({"messages": [HumanMessage("hi", id="u0")]}, config)
    with sqlite3.connect(tmp_path / "one.sqlite") as conn:
        conn.execute(
            "DELETE FROM graphwire_messages WHERE rowid = "
            "(SELECT MIN(rowid) FROM graphwire_messages WHERE thread_id = 't')"
        )
    async with _reopened(tmp_path / "one.sqlite") as again:
        with pytest.raises(
            StoreUnavailableError, match="message\\(s\\) the database does not hold"
        ):
            await _chat(again).aget_state(CONFIG)
        with pytest.raises(StoreUnavailableError, match="of thread 't'"):  # a listing of all
            [item async for item in again.checkpointer().alist(None)]


async def test_every_rollback_makes_stored_rows_unknown(
    file: SqliteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's own failure, a failed COMMIT, a batch SQLite rolled back: each
    changes the epoch, so what the memo knew stored is stored again."""
    epoch = file._rows._rollbacks

    def fails() -> None:
        file.conn.execute("INSERT INTO graphwire_probe (id, at) VALUES (2, 0)")
        raise RuntimeError("a job's own failure")

    with pytest.raises(RuntimeError):
        await file.call(fails)
    assert file._rows._rollbacks == epoch + 1

    def finds_nothing() -> None:  # as a lookup of a task that is not there
        file.conn.execute("SELECT * FROM graphwire_probe").fetchall()
        raise LookupError("no such task")

    with pytest.raises(LookupError):
        await file.call(finds_nothing)
    assert file._rows._rollbacks == epoch + 1  # nothing written: nothing to store again

    checks = iter(["before the batch"])

    def gone_at_commit() -> None:  # the file went while the batch ran
        if next(checks, None) is None:
            raise StoreUnavailableError("the file is gone")

    monkeypatch.setattr(file._thread, "_check", gone_at_commit)
    with pytest.raises(StoreUnavailableError):
        await file.call(lambda: file.conn.execute("INSERT INTO graphwire_probe VALUES (3, 0)"))
    assert file._rows._rollbacks == epoch + 2
    monkeypatch.undo()

    def ends() -> None:
        file.conn.execute("INSERT INTO graphwire_probe (id, at) VALUES (4, 0)")
        file.conn.execute("COMMIT")

    with pytest.raises(Exception, match="ended the shared transaction"):
        await file.call(ends)
    assert file._rows._rollbacks == epoch + 3


class Custom(BaseModel):
    """A graph's own type, in its state."""

    name: str


async def test_a_graphs_allowlist_reads_through_its_own_clone(tmp_path: Path) -> None:
    """Under strict msgpack, LangGraph clones the checkpointer with a graph's
    allowlist: the clone's reads and writes use the derived serializer (one
    per allowlist), the original stays strict."""
    file = SqliteFile(tmp_path / "strict.sqlite", checkpoint_turns=TURNS)
    file._memo = MessageMemo(file._rows, allowed_msgpack_modules=None)
    await file.acquire()
    try:
        plain = file.checkpointer()
        allowing = plain.with_allowlist([(__name__, "Custom")])
        assert allowing is not plain
        assert plain.with_allowlist([(__name__, "Custom")]).serde is allowing.serde
        checkpoint = _checkpoint(1, [HumanMessage("hi", id="u1")])
        checkpoint["channel_values"]["custom"] = Custom(name="mine")
        config = await allowing.aput(ROOT, checkpoint, {"source": "input", "step": -1}, {})
        read = await allowing.aget_tuple(config)
        refused = await plain.aget_tuple(config)
    finally:
        await file.release()
    assert read is not None and read.checkpoint["channel_values"]["custom"] == Custom(name="mine")
    assert refused is not None and not isinstance(
        refused.checkpoint["channel_values"]["custom"], Custom
    )
    assert [m.content for m in read.checkpoint["channel_values"]["messages"]] == ["hi"]
