"""Checks every test applies to an AG-UI event sequence: the 1.0 invariants
and the SDK round trip."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import jsonpatch
from ag_ui.core import BaseEvent, Event, EventType
from ag_ui.encoder import EventEncoder
from pydantic import TypeAdapter

EVENT = TypeAdapter(Event)
ENCODER = EventEncoder()

_OPENERS = {
    EventType.TEXT_MESSAGE_START: ("text", "message_id"),
    EventType.TOOL_CALL_START: ("tool", "tool_call_id"),
    EventType.REASONING_START: ("reasoning", "message_id"),
    EventType.REASONING_MESSAGE_START: ("reasoning_message", "message_id"),
    EventType.SUBAGENT_STARTED: ("subagent", "subagent_run_id"),
}
_CLOSERS = {
    EventType.TEXT_MESSAGE_END: ("text", "message_id"),
    EventType.TOOL_CALL_END: ("tool", "tool_call_id"),
    EventType.REASONING_END: ("reasoning", "message_id"),
    EventType.REASONING_MESSAGE_END: ("reasoning_message", "message_id"),
    EventType.SUBAGENT_FINISHED: ("subagent", "subagent_run_id"),
    EventType.SUBAGENT_ERROR: ("subagent", "subagent_run_id"),
}
_INSIDE = {
    EventType.TEXT_MESSAGE_CONTENT: ("text", "message_id"),
    EventType.TOOL_CALL_ARGS: ("tool", "tool_call_id"),
    EventType.REASONING_MESSAGE_CONTENT: ("reasoning_message", "message_id"),
}
_TERMINAL = {EventType.RUN_FINISHED, EventType.RUN_ERROR}


def round_trip(event: BaseEvent) -> None:
    """The event validates as its ag_ui.core model and survives the SDK encoder."""
    frame = ENCODER.encode(event)
    assert frame.startswith("data: ") and frame.endswith("\n\n")
    decoded = EVENT.validate_python(json.loads(frame[len("data: ") :]))
    assert type(decoded) is type(event)
    assert decoded.model_dump(by_alias=True) == event.model_dump(by_alias=True)


def check_run(events: Sequence[BaseEvent]) -> None:
    """Assert the AG-UI 1.0 run invariants; raises AssertionError naming the break."""
    assert events, "no events"
    assert events[0].type == EventType.RUN_STARTED, f"first is {events[0].type}"
    assert events[0].protocol_version == "1.0"  # type: ignore[attr-defined]
    terminals = [i for i, e in enumerate(events) if e.type in _TERMINAL]
    assert terminals == [len(events) - 1], f"terminal events at {terminals}"
    open_: set[tuple[str, str]] = set()
    used: set[tuple[str, str]] = set()
    steps: set[tuple[Any, str]] = set()
    for event in events:
        round_trip(event)
        _track(event, open_, used, steps)
    if events[-1].type == EventType.RUN_FINISHED:
        assert not open_, f"left open at RUN_FINISHED: {open_}"
        assert not steps, f"steps left open: {steps}"


def _track(
    event: BaseEvent,
    open_: set[tuple[str, str]],
    used: set[tuple[str, str]],
    steps: set[tuple[Any, str]],
) -> None:
    kind = event.type
    if kind in _OPENERS:
        key = (_OPENERS[kind][0], getattr(event, _OPENERS[kind][1]))
        assert key not in used, f"id reused: {key}"
        used.add(key)
        open_.add(key)
    elif kind in _CLOSERS:
        key = (_CLOSERS[kind][0], getattr(event, _CLOSERS[kind][1]))
        assert key in open_, f"{kind} without open {key}"
        open_.remove(key)
    elif kind in _INSIDE:
        key = (_INSIDE[kind][0], getattr(event, _INSIDE[kind][1]))
        assert key in open_, f"{kind} outside its START/END: {key}"
    elif kind == EventType.STEP_STARTED:
        step = (event.subagent_run_id, event.step_name)  # type: ignore[attr-defined]
        assert step not in steps, f"step opened twice: {step}"
        steps.add(step)
    elif kind == EventType.STEP_FINISHED:
        step = (event.subagent_run_id, event.step_name)  # type: ignore[attr-defined]
        assert step in steps, f"step finished but not open: {step}"
        steps.remove(step)


def outline(events: Sequence[BaseEvent]) -> list[str]:
    """A compact, id-free picture of a sequence for golden comparisons."""
    return [_describe(e) for e in events]


_DETAIL = {
    "TEXT_MESSAGE_CONTENT": "delta",
    "REASONING_MESSAGE_CONTENT": "delta",
    "TOOL_CALL_ARGS": "delta",
    "TOOL_CALL_START": "toolCallName",
    "STEP_STARTED": "stepName",
    "STEP_FINISHED": "stepName",
    "RUN_ERROR": "code",
    "TEXT_MESSAGE_START": "role",
    "CUSTOM": "name",
    "SUBAGENT_STARTED": "name",
}


def _describe(event: BaseEvent) -> str:
    kind = event.type.value
    data = event.model_dump(by_alias=True, exclude={"type"})
    if kind == "RUN_FINISHED":
        return f"{kind} {(data.get('outcome') or {}).get('type')}"
    key = _DETAIL.get(kind)
    return kind if key is None else f"{kind} {data.get(key)!r}"


def final_state(events: Sequence[BaseEvent]) -> dict[str, Any]:
    """The state a client holds after ``events``: the last snapshot, deltas applied."""
    state: dict[str, Any] = {}
    for event in events:
        if event.type == EventType.STATE_SNAPSHOT:
            state = dict(event.snapshot)  # type: ignore[attr-defined]
        elif event.type == EventType.STATE_DELTA:
            ops = [op.model_dump(by_alias=True) for op in event.delta]  # type: ignore[attr-defined]
            state = jsonpatch.apply_patch(state, ops)
    return state
