"""Interrupt questions driven by responseSchema, and the chat's rendering, on
a recording console with scripted answers."""

from __future__ import annotations

import io
from typing import Any

import pytest
from ag_ui.core import (
    Interrupt,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.core.events import RunFinishedCancelledOutcome
from rich.console import Console

from graphwire.chat import ChatView, InterruptPrompt
from graphwire.client import Answer

APPROVAL = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "note": {"type": "string"}},
}


def ask(schema: dict[str, Any] | None, *answers: str) -> tuple[Answer, str]:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    prompt = InterruptPrompt(console, io.StringIO("".join(a + "\n" for a in answers)))
    interrupt = Interrupt(id="i1", reason="approval", message="Ship?", response_schema=schema)
    return prompt.ask(interrupt), out.getvalue()


@pytest.mark.parametrize(
    ("answers", "payload"),
    [
        (("a", ""), {"approved": True}),
        (("r", "too late"), {"approved": False, "note": "too late"}),
        (("e", "{nope", '{"approved": true, "when": "now"}'), {"approved": True, "when": "now"}),
    ],
)
def test_an_approval_schema_approves_rejects_or_takes_json(
    answers: tuple[str, ...], payload: dict[str, Any]
) -> None:
    reply, shown = ask(APPROVAL, *answers)
    assert reply == Answer(payload)
    assert "waiting for you: Ship?" in shown
    if "{nope" in answers:
        assert "not JSON" in shown


def test_without_a_schema_approve_is_true_reject_dismisses_and_text_or_json_answer() -> None:
    assert ask(None, "a")[0] == Answer(True)
    assert ask(None, "r")[0] == Answer(dismissed=True)
    assert ask(None, "t", "use the blue one")[0] == Answer("use the blue one")
    assert ask(None, "e", "[1, 2]")[0] == Answer([1, 2])
    reply, shown = ask(None, "x", "a")  # not a choice: asked again
    assert reply == Answer(True)
    assert "Please select one of the available options" in shown


def test_typed_schemas_ask_for_their_type() -> None:
    assert ask({"type": "string", "enum": ["red", "blue"]}, "green", "blue")[0] == Answer("blue")
    assert ask({"type": "integer"}, "two", "2")[0] == Answer(2)
    assert ask({"type": "number"}, "2.5")[0] == Answer(2.5)
    assert ask({"type": "boolean"}, "y")[0] == Answer(True)
    assert ask({"type": "string"}, "free text")[0] == Answer("free text")
    schema = {
        "type": "object",
        "required": ["city"],
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    }
    assert ask(schema, "Paris", "")[0] == Answer({"city": "Paris"})
    assert ask(schema, "Paris", "3")[0] == Answer({"city": "Paris", "days": 3})


def test_json_of_the_wrong_type_is_asked_again() -> None:
    schema = {"type": "object", "properties": {"steps": {"type": "array"}}}
    reply, shown = ask(schema, "true", '["a", "b"]')
    assert reply == Answer({"steps": ["a", "b"]})
    assert "wanted: JSON of type array" in shown
    assert ask(schema, "")[0] == Answer({})  # an optional field left out


def test_the_view_renders_every_kind_and_each_state_once() -> None:
    out = io.StringIO()
    view = ChatView(Console(file=out, width=200, color_system=None))
    events = [
        StateSnapshotEvent(snapshot={"turns": 1}),
        ReasoningMessageStartEvent(message_id="r", role="reasoning"),
        ReasoningMessageContentEvent(message_id="r", delta="let me see"),
        ReasoningMessageEndEvent(message_id="r"),
        ToolCallStartEvent(tool_call_id="c", tool_call_name="get_weather"),
        ToolCallArgsEvent(tool_call_id="c", delta='{"city": '),
        ToolCallArgsEvent(tool_call_id="c", delta='"Paris"}'),
        ToolCallEndEvent(tool_call_id="c"),
        ToolCallResultEvent(message_id="t", tool_call_id="c", content="sunny " * 100),
        TextMessageStartEvent(message_id="m", role="assistant"),
        TextMessageContentEvent(message_id="m", delta="It is "),
        TextMessageContentEvent(message_id="m", delta="sunny."),
        TextMessageEndEvent(message_id="m"),
        StateDeltaEvent(delta=[{"op": "replace", "path": "/turns", "value": 2}]),
        StateSnapshotEvent(snapshot={"turns": 2}),  # what the delta made: not shown again
        RunErrorEvent(message="boom", code="AGENT_ERROR"),
        RunFinishedEvent(thread_id="t", run_id="r", outcome=RunFinishedCancelledOutcome()),
    ]
    for event in events:
        view(event)
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        'state: {"turns": 1}',
        "thinking: let me see",
        'tool get_weather({"city": "Paris"})',
    ]
    shown_result = "sunny " * 33 + "s…"  # cut to SHOWN_CHARS (200)
    assert lines[3] == f"  -> get_weather: {shown_result}"
    assert lines[4:] == [
        "agent: It is sunny.",
        "state replace /turns 2",
        "error AGENT_ERROR: boom",
        "(stopped)",
    ]


def test_the_view_keeps_each_threads_state_and_survives_a_patch_that_does_not_apply() -> None:
    out = io.StringIO()
    view = ChatView(Console(file=out, width=200, color_system=None))
    for event in [
        RunStartedEvent(thread_id="a", run_id="r1"),
        StateSnapshotEvent(snapshot={"turns": 1}),
        RunStartedEvent(thread_id="b", run_id="r2"),
        StateSnapshotEvent(snapshot={"turns": 1}),  # thread b's: shown, though equal
        StateDeltaEvent(delta=[{"op": "replace", "path": "/missing/deep", "value": 1}]),
        StateSnapshotEvent(snapshot={"turns": 2}),
    ]:
        view(event)
    assert out.getvalue().splitlines() == [
        'state: {"turns": 1}',
        'state: {"turns": 1}',
        "state replace /missing/deep 1",
        'state: {"turns": 2}',
    ]
