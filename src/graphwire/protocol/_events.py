"""Typed events parsed from LangGraph stream parts (the parser's output).

They name what happened in the graph, independent of AG-UI; the mapper turns
them into AG-UI events and owns the run's lifecycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Namespace = tuple[str, ...]
"""LangGraph subgraph namespace: () is the root graph."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    message_id: str
    delta: str
    ns: Namespace = ()
    role: Literal["assistant", "user", "system", "developer"] = "assistant"
    node: str | None = None
    """The LangGraph node that produced the message."""


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    message_id: str
    """The id of the AI message the reasoning belongs to."""
    delta: str
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class ReasoningEncrypted:
    message_id: str
    value: str
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class ToolCallChunk:
    """A piece of a tool call; ``index`` keeps parallel calls apart."""

    message_id: str
    index: int
    call_id: str | None
    name: str | None
    args: str
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class MessageEnd:
    """The message with this id is complete (streamed to its end, or whole)."""

    message_id: str
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class ToolResult:
    message_id: str
    call_id: str
    content: str
    error: bool = False
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class InterruptRaised:
    interrupt_id: str
    value: Any
    response_schema: dict[str, Any] | None = None
    node: str | None = None
    ns: Namespace = ()
    tool_call_id: str | None = None
    """The tool call whose task raised it, when LangGraph ran one call per task."""


@dataclass(frozen=True, slots=True)
class StateValues:
    """The root graph's full state after a step."""

    values: Any


@dataclass(frozen=True, slots=True)
class CustomWrite:
    value: Any
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class DispatchedEvent:
    """A LangChain callback custom event (``adispatch_custom_event``), as the runs
    layer forwards it into the custom stream; also the parsed event for it."""

    name: str
    data: Any
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class PredictState:
    """The model is about to stream a tool call whose arguments predict state
    (``config["metadata"]["predict_state"]``, CopilotKit's convention)."""

    entries: list[Any]
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class Usage:
    usage: dict[str, Any]
    model: str | None = None
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class NodeStarted:
    task_id: str
    node: str
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class NodeFinished:
    task_id: str
    node: str
    error: str | None = None
    ns: Namespace = ()


@dataclass(frozen=True, slots=True)
class Raw:
    """The stream part itself, for RAW events when they are asked for."""

    part: Any = field(repr=False)


ParsedEvent = (
    TextDelta
    | ReasoningDelta
    | ReasoningEncrypted
    | ToolCallChunk
    | MessageEnd
    | ToolResult
    | InterruptRaised
    | StateValues
    | CustomWrite
    | DispatchedEvent
    | PredictState
    | Usage
    | NodeStarted
    | NodeFinished
    | Raw
)
