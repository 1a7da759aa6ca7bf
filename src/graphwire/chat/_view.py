"""A run's events on a terminal (rich): the answer streamed as it comes,
reasoning dimmed, tool calls and their results, state changes, delegated
tasks, errors; a spinner whenever the terminal waits at the start of a line."""

from __future__ import annotations

import json
from typing import Any

import jsonpatch
import jsonpointer
from ag_ui.core import (
    ActivitySnapshotEvent,
    BaseEvent,
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
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.status import Status

SHOWN_CHARS = 200
"""Tool results and state are cut to this many characters on screen."""

TASK_ACTIVITY = "graphwire.task"


class ChatView:
    """Renders events (call it with each) on ``console``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None
        self._midline = False
        self._tools: dict[str, str] = {}
        self._state: Any = {}
        self._thread = ""

    def wait(self, what: str = "thinking") -> None:
        """Spin until the next output, unless a line is half written (a
        streamed answer goes on where it stopped)."""
        if self._status is None and not self._midline:
            self._status = self.console.status(what, spinner="dots")
            self._status.start()

    def note(self, text: str, style: str = "dim") -> None:
        """A line of the chat's own (``stopping ...``)."""
        self._line(text, style)

    def done(self) -> None:
        """The run's output is over: no spinner, the cursor at a line start."""
        self._quiet()
        if self._midline:
            self._write("\n")

    def __call__(self, event: BaseEvent) -> None:
        """Render one event."""
        if isinstance(event, TextMessageStartEvent):
            self._line("")
            self._write("agent: ", "bold cyan")
        elif isinstance(event, TextMessageContentEvent):
            self._write(event.delta)
        elif isinstance(event, ReasoningMessageStartEvent):
            self._line("")
            self._write("thinking: ", "dim italic")
        elif isinstance(event, ReasoningMessageContentEvent):
            self._write(event.delta, "dim italic")
        elif isinstance(event, TextMessageEndEvent | ReasoningMessageEndEvent | ToolCallEndEvent):
            self._write(")\n" if isinstance(event, ToolCallEndEvent) else "\n", "yellow")
        elif isinstance(event, ToolCallStartEvent):
            self._tools[event.tool_call_id] = event.tool_call_name
            self._line("")
            self._write(f"tool {event.tool_call_name}(", "yellow")
        elif isinstance(event, ToolCallArgsEvent):
            self._write(event.delta, "yellow")
        elif isinstance(event, ToolCallResultEvent):
            name = self._tools.get(event.tool_call_id, "tool")
            content = event.content if isinstance(event.content, str) else _json(event.content)
            self._line(f"  -> {name}: {_cut(content)}", "green")
        else:
            self._other(event)

    def _other(self, event: BaseEvent) -> None:
        if isinstance(event, StateSnapshotEvent | StateDeltaEvent | RunStartedEvent):
            self._state_change(event)
        elif isinstance(event, ActivitySnapshotEvent) and event.activity_type == TASK_ACTIVITY:
            task = event.content
            shown = f"task {task.get('taskId')} {task.get('state')}: {task.get('title')}"
            self._line(shown, "magenta")
        elif isinstance(event, RunErrorEvent):
            self._line(f"error {event.code or ''}: {event.message}", "bold red")
        elif isinstance(event, RunFinishedEvent):
            outcome = event.outcome
            if outcome is not None and outcome.type == "cancelled":
                self._line("(stopped)", "yellow")

    def _state_change(self, event: StateSnapshotEvent | StateDeltaEvent | RunStartedEvent) -> None:
        """Each snapshot that says something new, each delta's operations."""
        if isinstance(event, RunStartedEvent):
            if event.thread_id != self._thread:  # another thread, another state
                self._thread, self._state = event.thread_id, {}
        elif isinstance(event, StateSnapshotEvent):
            state = to_jsonable_python(event.snapshot, by_alias=True)
            if state != self._state:  # a run starts with the state the last one left
                self._state = state
                self._line(f"state: {_cut(_json(state))}", "dim")
        else:
            patch = to_jsonable_python(event.delta, by_alias=True)
            try:
                self._state = jsonpatch.apply_patch(self._state, patch)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
                self._state = None  # joined late: the next snapshot is shown whole
            for op in patch:
                shown = _json(op.get("value")) if "value" in op else ""
                self._line(f"state {op.get('op')} {op.get('path')} {_cut(shown)}", "dim")

    def _line(self, text: str, style: str = "") -> None:
        """``text`` on a line of its own ("" just ends a half-written line)."""
        if self._midline:
            self._write("\n")
        if text:
            self._write(text + "\n", style)

    def _write(self, text: str, style: str = "") -> None:
        self._quiet()
        self.console.print(
            text, style=style or None, end="", soft_wrap=True, markup=False, highlight=False
        )
        self._midline = not text.endswith("\n")

    def _quiet(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _json(value: Any) -> str:
    return json.dumps(to_jsonable_python(value, by_alias=True), ensure_ascii=False)
