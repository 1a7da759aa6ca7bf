"""A run's events as plain text, for logs and CI: streamed text as it comes,
reasoning, tool calls and their results, state changes, interrupts, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterable, Iterable
from typing import Any, TextIO

from ag_ui.core import (
    BaseEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    RunErrorEvent,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
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
from pydantic_core import to_jsonable_python


class PrintRenderer:
    """Writes each event it is given to ``out`` as plain text lines."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._tools: dict[str, str] = {}

    def __call__(self, event: BaseEvent) -> None:
        """Render one event."""
        text = self._text(event)
        if text:
            self._out.write(text)
            self._out.flush()

    def _text(self, event: BaseEvent) -> str:  # noqa: PLR0911 -- one answer per kind
        if isinstance(event, TextMessageStartEvent):
            return "assistant: "
        if isinstance(event, TextMessageContentEvent | ReasoningMessageContentEvent):
            return event.delta
        if isinstance(event, TextMessageEndEvent | ReasoningMessageEndEvent):
            return "\n"
        if isinstance(event, ReasoningMessageStartEvent):
            return "(thinking) "
        if isinstance(event, ToolCallStartEvent):
            self._tools[event.tool_call_id] = event.tool_call_name
            return f"-> {event.tool_call_name}("
        if isinstance(event, ToolCallArgsEvent):
            return event.delta
        if isinstance(event, ToolCallEndEvent):
            return ")\n"
        if isinstance(event, ToolCallResultEvent):
            name = self._tools.get(event.tool_call_id, "tool")
            return f"<- {name}: {event.content}\n"
        return self._other(event)

    @staticmethod
    def _other(event: BaseEvent) -> str:
        if isinstance(event, StateSnapshotEvent):
            return f"state: {_json(event.snapshot)}\n"
        if isinstance(event, StateDeltaEvent):
            return f"state change: {_json(event.delta)}\n"
        if isinstance(event, RunErrorEvent):
            return f"! error {event.code or ''}: {event.message}\n"
        if isinstance(event, RunFinishedEvent):
            outcome = event.outcome
            if isinstance(outcome, RunFinishedInterruptOutcome):
                return "".join(
                    f"? waiting for {i.id}: {i.message or i.reason}\n" for i in outcome.interrupts
                )
            if outcome is not None and outcome.type == "cancelled":
                return "(cancelled)\n"
        return ""


def print_run(events: Iterable[BaseEvent], out: TextIO | None = None) -> None:
    """Render every event of ``events`` (a sync run stream, a list) as text."""
    render = PrintRenderer(out)
    for event in events:
        render(event)


async def aprint_run(events: AsyncIterable[BaseEvent], out: TextIO | None = None) -> None:
    """``print_run`` for an async stream (``GraphwireClient.run``)."""
    render = PrintRenderer(out)
    async for event in events:
        render(event)


def _json(value: Any) -> str:
    return json.dumps(to_jsonable_python(value, by_alias=True), ensure_ascii=False)
