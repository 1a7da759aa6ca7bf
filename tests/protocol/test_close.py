"""Closing a run whose log was cut short: valid AG-UI for any client."""

from __future__ import annotations

import json

from ag_ui.core import (
    PROTOCOL_VERSION,
    BaseEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunFinishedEvent,
    RunStartedEvent,
    StepStartedEvent,
    SubagentStartedEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallStartEvent,
)

from graphwire.protocol import closing_events
from graphwire.runs import encode_event
from tests.agui_checks import check_run


def as_logged(events: list[BaseEvent]) -> list[dict[str, object]]:
    return [json.loads(encode_event(e)) for e in events]


START = RunStartedEvent(thread_id="t", run_id="r", protocol_version=PROTOCOL_VERSION)


def test_everything_open_is_closed_innermost_first() -> None:
    logged: list[BaseEvent] = [
        START,
        StepStartedEvent(step_name="agent"),
        TextMessageStartEvent(message_id="m0"),
        TextMessageEndEvent(message_id="m0"),
        SubagentStartedEvent(subagent_run_id="s1", name="helper"),
        StepStartedEvent(step_name="inner", subagent_run_id="s1"),
        ReasoningStartEvent(message_id="rs", subagent_run_id="s1"),
        ReasoningMessageStartEvent(message_id="rm", role="reasoning", subagent_run_id="s1"),
        ToolCallStartEvent(tool_call_id="c1", tool_call_name="t", subagent_run_id="s1"),
    ]
    closing = closing_events(as_logged(logged), "WORKER_LOST", "gone")
    check_run([*logged, *closing])
    assert [e.type.value for e in closing] == [
        "TOOL_CALL_END",
        "REASONING_MESSAGE_END",
        "REASONING_END",
        "STEP_FINISHED",
        "SUBAGENT_ERROR",
        "STEP_FINISHED",
        "RUN_ERROR",
    ]
    assert closing[0].subagent_run_id == "s1"  # type: ignore[attr-defined]
    assert closing[-1].code == "WORKER_LOST"  # type: ignore[attr-defined]


def test_an_ended_run_needs_nothing_and_an_empty_one_just_errors() -> None:
    ended = [START, RunFinishedEvent(thread_id="t", run_id="r")]
    assert closing_events(as_logged(ended), "X", "y") == []
    [only] = closing_events(as_logged([START]), "X", "y")
    assert only.type.value == "RUN_ERROR"
