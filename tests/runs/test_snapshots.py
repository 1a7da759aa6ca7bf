"""A thread's MESSAGES_SNAPSHOT run after run: the SDK's event to the byte, an
unchanged message converted and written once, any change in place seen."""

from __future__ import annotations

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


def test_an_unchanged_message_is_converted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    converted: list[str] = []

    def counting(messages: list[BaseMessage]) -> Any:
        converted.extend(str(m.id) for m in messages)
        return to_agui_messages(messages)

    monkeypatch.setattr(_snapshots, "to_agui_messages", counting)
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


def test_a_message_equality_cannot_tell_about_is_never_trusted() -> None:
    """A tool's result holding a bytearray (written as its ``str``): a copy of
    it would equal it after any change."""
    raw = bytearray(b"ab")
    result = ToolMessage([{"type": "blob", "raw": raw}], tool_call_id="c1", id="t9")
    history: list[Any] = [*_history(), result]
    memo = SnapshotMemo()
    before = encode_event(memo.event(history))
    assert before == _fresh(history)
    raw.append(ord("c"))
    assert encode_event(memo.event(history)) == _fresh(history) != before


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
