"""A thread's MESSAGES_SNAPSHOT run after run: the SDK's event to the byte, an
unchanged message converted and written once, any change in place seen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import MessagesSnapshotEvent, UserMessage
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from graphwire.protocol import to_agui_messages
from graphwire.runs import _registry, _snapshots, encode_event
from graphwire.runs._registry import RunRegistry
from graphwire.runs._snapshots import SnapshotMemo
from graphwire.tasks import SqliteFile
from tests.graphs import agent_graph, user_input


def _history() -> list[BaseMessage]:
    return [
        SystemMessage("be brief", id="s1"),
        HumanMessage(
            [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "url": "https://example.com/a.png"},
            ],
            id="u1",
        ),
        AIMessage(
            [
                {"type": "reasoning", "reasoning": "look at it", "id": "r1"},
                {"type": "text", "text": "a cat. The weather?"},
            ],
            id="a1",
            tool_calls=[{"name": "weather", "args": {"city": "Paris", "at": [1, 2]}, "id": "c1"}],
        ),
        ToolMessage("sunny", tool_call_id="c1", id="t1"),
        AIMessage("It is sunny — ☀", id="a2"),
    ]


def _fresh(messages: list[Any]) -> str:
    """What the snapshot of ``messages`` is, converted and written anew."""
    return encode_event(MessagesSnapshotEvent(messages=to_agui_messages(messages)))


def test_the_snapshot_is_the_sdks_event_to_the_byte() -> None:
    memo, history = SnapshotMemo(), _history()
    first = memo.event(history)
    assert encode_event(first) == _fresh(history)
    assert first.model_dump_json(by_alias=True) == encode_event(first)  # the SDK's own writing
    history.append(HumanMessage("thanks", id="u2"))
    assert encode_event(memo.event(history)) == _fresh(history)
    assert memo.event(history).messages == to_agui_messages(history)


@pytest.mark.parametrize(
    "change",
    ["content", "tool call args", "content block", "extra kwargs", "name", "removed"],
)
def test_a_message_changed_in_place_is_written_anew(change: str) -> None:
    memo, history = SnapshotMemo(), _history()
    memo.event(history)
    ai = history[2]
    assert isinstance(ai, AIMessage)
    if change == "content":
        history[4].content = "It rains."
    elif change == "tool call args":
        ai.tool_calls[0]["args"]["at"].append(3)
    elif change == "content block":
        assert isinstance(ai.content, list) and isinstance(ai.content[1], dict)
        ai.content[1]["text"] = "a dog."
    elif change == "extra kwargs":
        history[0].additional_kwargs["__openai_role__"] = "developer"
    elif change == "name":
        history[1].name = "ada"
    else:
        del history[3]
    assert encode_event(memo.event(history)) == _fresh(history)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the messages the memo converts from now on."""
    converted: list[str] = []

    def counting(messages: list[BaseMessage]) -> Any:
        converted.extend(str(m.id) for m in messages)
        return to_agui_messages(messages)

    monkeypatch.setattr(_snapshots, "to_agui_messages", counting)
    return converted


def test_an_unchanged_message_is_converted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    converted = _counting(monkeypatch)
    memo, history = SnapshotMemo(), _history()
    memo.event(history)
    assert converted == ["s1", "u1", "a1", "t1", "a2"]
    converted.clear()
    history += [HumanMessage("thanks", id="u2"), AIMessage("you're welcome", id="a3")]
    assert encode_event(memo.event(history)) == _fresh(history)
    assert converted == ["u2", "a3"]
    converted.clear()
    history[1] = HumanMessage("another object, equal", id="u1")
    memo.event(history)
    assert converted == ["u1"]  # kept by object: an equal one is converted


def test_a_message_equality_cannot_tell_about_is_never_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tool's result holding a bytearray (written as its ``str``): a copy of
    it would equal it after any change. It is converted anew every time; the
    thread's other messages are still converted once."""
    converted = _counting(monkeypatch)
    raw = bytearray(b"ab")
    result = ToolMessage([{"type": "blob", "raw": raw}], tool_call_id="c1", id="t9")
    history: list[Any] = [*_history(), result]
    memo = SnapshotMemo()
    before = encode_event(memo.event(history))
    assert before == _fresh(history)
    converted.clear()
    raw.append(ord("c"))
    assert encode_event(memo.event(history)) == _fresh(history) != before
    assert converted == ["t9"]


def test_a_snapshot_whose_list_was_changed_is_written_from_the_list() -> None:
    event = SnapshotMemo().event(_history())
    event.messages.append(UserMessage(id="u9", content="added later"))
    assert encode_event(event) == event.model_dump_json(by_alias=True)
    event.messages[0] = UserMessage(id="u8", content="replaced")
    assert encode_event(event) == event.model_dump_json(by_alias=True)


def test_the_registry_keeps_a_bounded_number_of_memos(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = RunRegistry()
    for n in range(_registry.SNAPSHOT_THREADS + 10):
        registry._snapshot_memo(f"thread-{n}")
    assert len(registry._snapshots) == _registry.SNAPSHOT_THREADS
    assert "thread-0" not in registry._snapshots
    monkeypatch.setattr(_registry, "SNAPSHOT_BYTES", 10_000)
    big = registry._snapshot_memo("big")
    big.event(_history())  # ~2.5 kB and more per message
    assert big.size > 10_000
    registry._snapshot_memo("next")
    assert list(registry._snapshots) == ["next"]


async def test_a_snapshot_past_the_bound_is_forgotten_when_its_run_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run's snapshot is made as it ends: the bound holds then, not only at
    the next run's start."""
    monkeypatch.setattr(_registry, "SNAPSHOT_BYTES", 4_000)  # ~2.5 kB a message
    registry = RunRegistry()
    graph = agent_graph(["a short answer"])
    record = registry.start(graph, user_input("a question"), agent="a", thread_key="t1")
    assert record.task is not None
    await record.task
    assert "t1" not in registry._snapshots


async def test_a_threads_next_runs_convert_only_their_new_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the registry, on the SQLite file, whose serializer hands a
    thread's unchanged messages back as the same objects run after run once
    it decoded them: a run converts its own messages and the last run's (made
    by the graph, decoded first now), never the older history."""
    file = SqliteFile(tmp_path / "one.sqlite")
    await file.acquire()
    try:
        graph = agent_graph([f"answer {n}" for n in range(1, 5)])
        graph.checkpointer = file.checkpointer()
        registry = RunRegistry()
        converted = _counting(monkeypatch)
        for n in range(1, 5):
            converted.clear()
            record = registry.start(
                graph, user_input(f"q{n}", run=f"r{n}", msg_id=f"u{n}"), agent="a", thread_key="t1"
            )
            assert record.task is not None
            await record.task
    finally:
        await file.release()
    assert converted == ["u3", "ai-3", "u4", "ai-4"]
    events = [json.loads(frame) for frame in record.log.after(0)]
    snapshot = next(e for e in events if e["type"] == "MESSAGES_SNAPSHOT")
    texts = [m["content"] for m in snapshot["messages"]]
    assert texts == [text for n in range(1, 5) for text in (f"q{n}", f"answer {n}")]
