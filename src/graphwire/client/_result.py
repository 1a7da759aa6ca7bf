"""A run's events folded into what a caller wants at the end: the messages, the
state with its deltas applied, the outcome and the open interrupts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import jsonpatch
from ag_ui.core import (
    AssistantMessage,
    BaseEvent,
    Interrupt,
    Message,
    MessagesSnapshotEvent,
    RunErrorEvent,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
    TextMessageStartEvent,
)
from pydantic_core import to_jsonable_python

Outcome = Literal["success", "interrupt", "cancelled", "error"]


@dataclass
class RunResult:
    """What one run came to, as its events said it."""

    run_id: str
    thread_id: str = ""
    messages: list[Message] = field(default_factory=list)
    """The thread's messages (the run's MESSAGES_SNAPSHOT, or as streamed)."""
    state: dict[str, Any] = field(default_factory=dict)
    """The shared state: the last snapshot with every delta after it applied."""
    outcome: Outcome | None = None
    """None while the run goes on."""
    interrupts: list[Interrupt] = field(default_factory=list)
    """What the run waits for when its outcome is "interrupt" (answer them with
    ``resume``)."""
    error: RunErrorEvent | None = None

    @property
    def text(self) -> str:
        """The last assistant message's text ("" when there is none)."""
        for message in reversed(self.messages):
            if isinstance(message, AssistantMessage) and isinstance(message.content, str):
                return message.content
        return ""

    def apply(self, event: BaseEvent) -> None:
        """Fold one event in."""
        if isinstance(event, RunStartedEvent):
            self.thread_id = event.thread_id
        elif isinstance(event, MessagesSnapshotEvent):
            self.messages = list(event.messages)
        elif isinstance(event, TextMessageStartEvent):
            self.messages.append(AssistantMessage(id=event.message_id, content=""))
        elif isinstance(event, TextMessageContentEvent):
            self._streamed(event)
        elif isinstance(event, StateSnapshotEvent):
            self.state = dict(event.snapshot) if isinstance(event.snapshot, dict) else {}
        elif isinstance(event, StateDeltaEvent):
            self.state = jsonpatch.apply_patch(
                self.state, to_jsonable_python(event.delta, by_alias=True)
            )
        elif isinstance(event, RunFinishedEvent):
            self._finished(event)
        elif isinstance(event, RunErrorEvent):
            self.outcome, self.error = "error", event

    def _streamed(self, event: TextMessageContentEvent) -> None:
        for index in range(len(self.messages) - 1, -1, -1):
            message = self.messages[index]
            if message.id == event.message_id and isinstance(message, AssistantMessage):
                text = (message.content or "") + event.delta
                self.messages[index] = message.model_copy(update={"content": text})
                return

    def _finished(self, event: RunFinishedEvent) -> None:
        outcome = event.outcome
        if isinstance(outcome, RunFinishedInterruptOutcome):
            self.outcome, self.interrupts = "interrupt", list(outcome.interrupts)
        else:
            self.outcome = "success" if outcome is None else outcome.type
