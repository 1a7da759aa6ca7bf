"""Checkpoint retention in the SQLite file: a long thread's storage grows with
its messages, not their square; recent turns stay editable; what cannot be
edited any more is a clear error; resumes, DeltaChannel graphs and the reuse
of a decoded checkpoint stay correct."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from ag_ui.core import MessagesSnapshotEvent, RunAgentInput, RunErrorEvent, RunFinishedEvent
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.channels.delta import DeltaChannel
from langgraph.graph import START, StateGraph, add_messages
from langgraph.pregel import Pregel
from typing_extensions import TypedDict

from graphwire.tasks import SqliteFile
from tests.graphs import agent_graph, collect
from tests.tasks.graphs import review_graph

TURNS = 5


@pytest.fixture
async def file(tmp_path: Path) -> AsyncIterator[SqliteFile]:
    file = SqliteFile(tmp_path / "one.sqlite", checkpoint_turns=TURNS)
    await file.acquire()
    try:
        yield file
    finally:
        await file.release()


def _on(graph: Pregel[Any, Any], file: SqliteFile) -> Pregel[Any, Any]:
    return graph.copy(update={"checkpointer": file.checkpointer()})


async def _turn(
    graph: Pregel[Any, Any], history: list[dict[str, Any]], text: str, n: int
) -> tuple[list[dict[str, Any]], Any]:
    """One run with the whole history, as CopilotKit sends it; the history after."""
    messages = [*history, {"id": f"u{n}", "role": "user", "content": text}]
    events = await collect(graph, _input(messages, n))
    snapshots = [e for e in events if isinstance(e, MessagesSnapshotEvent)]
    after = [m.model_dump(by_alias=True, exclude_none=True) for m in snapshots[-1].messages]
    return after if snapshots else history, events[-1]


def _input(messages: list[dict[str, Any]], n: int, **extra: Any) -> RunAgentInput:
    return RunAgentInput.model_validate(
        {
            "threadId": "t1",
            "runId": f"r{n}-{len(messages)}",
            "state": {},
            "messages": messages,
            "tools": [],
            "context": [],
            "forwardedProps": {},
            **extra,
        }
    )


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (rows,) = conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = 't1'").fetchone()
    return int(rows)


async def test_a_long_thread_keeps_a_bounded_number_of_checkpoints(
    file: SqliteFile, tmp_path: Path
) -> None:
    graph = _on(agent_graph([f"answer {n}" for n in range(40)]), file)
    history: list[dict[str, Any]] = []
    counts = []
    for n in range(1, 31):
        history, _ = await _turn(graph, history, f"question {n}", n)
        counts.append(_rows(tmp_path / "one.sqlite"))
    # Two turns whole (3 checkpoints each), then two per kept turn: a constant.
    assert counts[-1] == counts[15] <= 3 * 2 + 2 * TURNS
    assert counts[-1] < counts[2] * 3
    state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
    assert len(state.values["messages"]) == 60  # the thread itself lost nothing


async def test_recent_turns_stay_editable_older_ones_are_a_clear_error(file: SqliteFile) -> None:
    graph = _on(agent_graph([f"answer {n}" for n in range(40)]), file)
    history: list[dict[str, Any]] = []
    for n in range(1, 13):
        history, _ = await _turn(graph, history, f"question {n}", n)
    # Edit the user message of turn 9 (four turns back): a fork from its turn.
    at = 2 * 8
    edited = [*history[:at], {**history[at], "content": "question 9, edited"}]
    events = await collect(graph, _input(edited, 99))
    assert isinstance(events[-1], RunFinishedEvent)
    state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
    texts = [m.content for m in state.values["messages"]]
    assert texts[-2:] == ["question 9, edited", "answer 12"] and len(texts) == 18
    # Regenerate the last answer: the history up to its question.
    events = await collect(graph, _input(edited[: at + 1], 100))
    assert isinstance(events[-1], RunFinishedEvent)
    # Turn 2 is beyond the kept turns: refused with a code, nothing written.
    old = [*history[:2], {**history[2], "content": "question 2, edited"}]
    events = await collect(graph, _input(old, 101))
    assert isinstance(events[-1], RunErrorEvent)
    assert events[-1].code == "INVALID_INPUT" and "checkpoint_turns" in events[-1].message


async def test_an_interrupt_after_many_turns_resumes(file: SqliteFile) -> None:
    graph = _on(review_graph(), file)
    history: list[dict[str, Any]] = []
    for n in range(1, 2 * TURNS + 4):
        history, end = await _turn(graph, history, f"deploy {n}", n)
        assert isinstance(end, RunFinishedEvent) and end.outcome is not None
        [pending] = end.outcome.interrupts
        answer = [{"interruptId": pending.id, "status": "resolved", "payload": f"ok {n}"}]
        done = await collect(graph, _input(history, 1000 + n, resume=answer))
        assert isinstance(done[-1], RunFinishedEvent)
        assert done[-1].outcome is not None and done[-1].outcome.type == "success"
        snapshot = [e for e in done if isinstance(e, MessagesSnapshotEvent)][-1]
        history = [m.model_dump(by_alias=True, exclude_none=True) for m in snapshot.messages]
    # (the review graph answers under one message id: the answer is replaced)
    assert f"approved: ok {2 * TURNS + 3}" in [m["content"] for m in history]


def _add_batches(state: list[AnyMessage], writes: list[Any]) -> list[AnyMessage]:
    return functools.reduce(add_messages, writes, state)  # type: ignore[arg-type]


class _DeltaState(TypedDict):
    messages: Annotated[list[AnyMessage], DeltaChannel(_add_batches)]
    notes: Annotated[list[AnyMessage], add_messages]
    """A list of messages stored by reference beside the delta channel."""


async def test_a_delta_channel_thread_is_kept_whole(file: SqliteFile, tmp_path: Path) -> None:
    def agent(state: _DeltaState) -> dict[str, Any]:
        answer = f"answer {len(state['messages'])}"
        return {"messages": [AIMessage(answer)], "notes": [AIMessage(f"note on {answer}")]}

    builder = StateGraph(_DeltaState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    graph = _on(builder.compile(), file)
    history: list[dict[str, Any]] = []
    for n in range(1, 2 * TURNS + 6):
        history, _ = await _turn(graph, history, f"question {n}", n)
    state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
    assert len(state.values["messages"]) == 2 * (2 * TURNS + 5)
    assert len(state.values["notes"]) == 2 * TURNS + 5
    assert _rows(tmp_path / "one.sqlite") == 3 * (2 * TURNS + 5)  # nothing pruned


async def test_a_checkpoint_read_again_is_fresh(file: SqliteFile) -> None:
    saver = file.checkpointer()
    graph = _on(agent_graph(["one", "two"]), file)
    await _turn(graph, [], "hi", 1)
    config = {"configurable": {"thread_id": "t1", "checkpoint_ns": ""}}
    first = await saver.aget_tuple(config)
    assert first is not None
    latest = {"configurable": {**first.config["configurable"]}}
    await saver.aput_writes(latest, [("messages", [AIMessage("late", id="late")])], "task-x")
    again = await saver.aget_tuple(config)  # the same checkpoint, with a new write
    assert again is not None and again is not first
    assert [w[1] for w in again.pending_writes or []] == ["messages"]
    unchanged = await saver.aget_tuple(config)  # every read is a read of its own
    assert unchanged is not None and unchanged.pending_writes == again.pending_writes
    assert (await saver.aget_tuple(config)) is not unchanged
