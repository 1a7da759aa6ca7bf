"""Close a run whose log was cut short (its process died mid-run).

Pure: given the AG-UI events a run logged so far, return the events that end
it as a valid sequence — every open START gets its END, innermost first, each
open subagent gets SUBAGENT_ERROR, and one RUN_ERROR comes last. A log that
already ends with a terminal event needs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ag_ui.core import (
    BaseEvent,
    EventType,
    ReasoningEndEvent,
    ReasoningMessageEndEvent,
    RunErrorEvent,
    StepFinishedEvent,
    SubagentErrorEvent,
    TextMessageEndEvent,
    ToolCallEndEvent,
)

_TERMINAL = frozenset({EventType.RUN_FINISHED.value, EventType.RUN_ERROR.value})
# START type -> (END type, the field naming the entity)
_PAIRS: dict[str, tuple[str, str]] = {
    EventType.TEXT_MESSAGE_START.value: (EventType.TEXT_MESSAGE_END.value, "messageId"),
    EventType.TOOL_CALL_START.value: (EventType.TOOL_CALL_END.value, "toolCallId"),
    EventType.REASONING_START.value: (EventType.REASONING_END.value, "messageId"),
    EventType.REASONING_MESSAGE_START.value: (EventType.REASONING_MESSAGE_END.value, "messageId"),
    EventType.STEP_STARTED.value: (EventType.STEP_FINISHED.value, "stepName"),
    EventType.SUBAGENT_STARTED.value: (EventType.SUBAGENT_ERROR.value, "subagentRunId"),
}
_ENDS = {end: (start, key) for start, (end, key) in _PAIRS.items()}
_ENDS[EventType.SUBAGENT_FINISHED.value] = (EventType.SUBAGENT_STARTED.value, "subagentRunId")


def closing_events(logged: Iterable[Mapping[str, Any]], code: str, message: str) -> list[BaseEvent]:
    """The events that end the run ``logged`` (camelCase event dicts) with RUN_ERROR."""
    opened: dict[tuple[str, str, str | None], Mapping[str, Any]] = {}
    for event in logged:
        kind = str(event.get("type"))
        if kind in _TERMINAL:
            return []
        if kind in _PAIRS:
            opened[_key(kind, _PAIRS[kind][1], event)] = event
        elif kind in _ENDS:
            start, field = _ENDS[kind]
            opened.pop(_key(start, field, event), None)
    closing = [_close(start, code, message) for start in reversed(opened.values())]
    closing.append(RunErrorEvent(code=code, message=message))
    return closing


def _key(kind: str, field: str, event: Mapping[str, Any]) -> tuple[str, str, str | None]:
    owner = None if kind == EventType.SUBAGENT_STARTED.value else event.get("subagentRunId")
    return kind, str(event.get(field)), owner


def _close(start: Mapping[str, Any], code: str, message: str) -> BaseEvent:
    kind, owner = start["type"], start.get("subagentRunId")
    if kind == EventType.TEXT_MESSAGE_START.value:
        return TextMessageEndEvent(message_id=start["messageId"], subagent_run_id=owner)
    if kind == EventType.TOOL_CALL_START.value:
        return ToolCallEndEvent(tool_call_id=start["toolCallId"], subagent_run_id=owner)
    if kind == EventType.REASONING_START.value:
        return ReasoningEndEvent(message_id=start["messageId"], subagent_run_id=owner)
    if kind == EventType.REASONING_MESSAGE_START.value:
        return ReasoningMessageEndEvent(message_id=start["messageId"], subagent_run_id=owner)
    if kind == EventType.STEP_STARTED.value:
        return StepFinishedEvent(step_name=start["stepName"], subagent_run_id=owner)
    return SubagentErrorEvent(subagent_run_id=start["subagentRunId"], code=code, message=message)
