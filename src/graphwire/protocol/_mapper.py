"""Typed events -> AG-UI 1.0 events. The mapper owns the run's lifecycle.

RUN_STARTED first; every START closed; ids equal LangChain's; exactly one
terminal event, last. Per-kind handlers stay small; the bookkeeping of what is
open lives in ``_open.OpenEntities`` (docs/adr/0002-event-mapping.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ag_ui.core import (
    PROTOCOL_VERSION,
    BaseEvent,
    CustomEvent,
    Interrupt,
    MessagesSnapshotEvent,
    RawEvent,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunFinishedOutcome,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
    TokenUsage,
    aggregate_token_usage,
    token_usage_from_langchain_metadata,
)
from langchain_core.messages import AIMessage
from langchain_core.messages import ToolMessage as LcToolMessage
from pydantic_core import to_jsonable_python

import graphwire.protocol._events as ev
from graphwire.protocol._interrupts import to_agui_interrupt
from graphwire.protocol._messages import to_agui_messages
from graphwire.protocol._open import OpenEntities
from graphwire.protocol._state import DEFAULT_HIDDEN_KEYS, as_mapping, state_patch, visible_state
from graphwire.protocol.errors import ErrorCode, GraphwireError

CUSTOM_EVENT_NAME = "langgraph.custom"
"""CUSTOM name for a stream write that does not name itself ({"name", "value"})."""

PREDICT_STATE_EVENT = "PredictState"
"""CUSTOM name announcing that a tool call's arguments predict state (CopilotKit)."""
EXIT_EVENT = "Exit"
"""CUSTOM name for ``copilotkit_exit``: the agent asks the frontend to end the agent."""

_STATE_DISPATCHES = frozenset(
    {"manually_emit_state", "copilotkit_manually_emit_intermediate_state"}
)
_MESSAGE_DISPATCHES = frozenset({"manually_emit_message", "copilotkit_manually_emit_message"})
_TOOL_CALL_DISPATCHES = frozenset({"manually_emit_tool_call", "copilotkit_manually_emit_tool_call"})
_EXIT_DISPATCHES = frozenset({"exit", "copilotkit_exit"})

LEGACY_INTERRUPT_EVENT = "on_interrupt"
"""ag-ui-langgraph's CUSTOM event announcing an interrupt (the legacy channel)."""

InterruptChannel = Literal["standard", "legacy", "both"]
"""Where a run's interrupts go: the AG-UI 1.0 outcome (``standard``),
ag-ui-langgraph's CUSTOM ``on_interrupt`` before a plain RUN_FINISHED
(``legacy``), or both (docs/adr/0008-drop-in-compatibility.md)."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The identity of the AG-UI run being mapped."""

    thread_id: str
    run_id: str
    parent_run_id: str | None = None
    client_protocol: str | None = PROTOCOL_VERSION
    """The protocol version the client declared (``RunAgentInput.protocolVersion``).
    None: a client from before 1.0 (CopilotKit 1.74 bundles one), whose strict
    outcome schemas know neither ``cancelled`` nor ``pendingToolCallIds`` and
    which may not know SUBAGENT_* events: its runs end with the outcomes it
    accepts and carry no subagents (docs/adr/0008-drop-in-compatibility.md)."""


@dataclass(frozen=True, slots=True)
class MapperOptions:
    emit_raw: bool = False
    """Forward every stream part as a RAW event (off: it costs bytes)."""
    hidden_state_keys: frozenset[str] = field(default=DEFAULT_HIDDEN_KEYS)
    """State keys never shared with the client (see ``_state``)."""
    interrupt_channel: InterruptChannel = "standard"
    """How interrupts reach the client (see ``InterruptChannel``)."""


class AguiMapper:
    """Maps one run. Every method returns the AG-UI events it produced."""

    def __init__(
        self,
        run: RunInfo,
        options: MapperOptions | None = None,
        snapshot: Callable[[Sequence[Any]], MessagesSnapshotEvent] | None = None,
    ) -> None:
        """``snapshot``: makes the MESSAGES_SNAPSHOT of the final messages
        (default: ``to_agui_messages``, converted anew)."""
        self._run = run
        self._options = options or MapperOptions()
        self._snapshot = snapshot or _converted
        self._out: list[BaseEvent] = []
        # Clients from before 1.0 may not know SUBAGENT_* events (the AG-UI dojo's
        # @ag-ui/client 0.0.57 rejects them): a subgraph's work is the run's own.
        self._open = OpenEntities(self._out, subagents=run.client_protocol is not None)
        self._started = False
        self._closed = False
        self._interrupted = False
        self._interrupts: list[Interrupt] = []
        self._state: dict[str, Any] | None = None
        self._messages: list[Any] | None = None
        self._usage: list[TokenUsage] = []
        self._text_tail: tuple[str, TextMessageContentEvent] | None = None

    @property
    def closed(self) -> bool:
        """True once the terminal event has been produced."""
        return self._closed

    @property
    def interrupted(self) -> bool:
        """True once the run has finished waiting for answers to interrupts."""
        return self._interrupted

    @property
    def started(self) -> bool:
        """True once RUN_STARTED has been produced."""
        return self._started

    def start(self) -> list[BaseEvent]:
        """RUN_STARTED, declaring protocol version 1.0."""
        if self._started:
            raise GraphwireError("the run was already started")
        self._open_run()
        return self._flush()

    def _open_run(self) -> None:
        self._started = True
        self._out.append(
            RunStartedEvent(
                thread_id=self._run.thread_id,
                run_id=self._run.run_id,
                parent_run_id=self._run.parent_run_id,
                protocol_version=PROTOCOL_VERSION,
            )
        )

    def feed(self, event: ev.ParsedEvent) -> list[BaseEvent]:
        """Map one parsed event."""
        self._ensure_running()
        _HANDLERS[type(event)](self, event)
        out = self._flush()
        last = out[-1] if out else None
        self._text_tail = (
            (event.message_id, last)
            if event.__class__ is ev.TextDelta and type(last) is TextMessageContentEvent
            else None
        )
        return out

    def text_tail(self, message_id: str) -> TextMessageContentEvent | None:
        """The last event mapped, when it was a text delta of this (LangChain)
        message: a further token of it maps to that event with the token as its
        delta, which a caller may use instead of parsing and mapping the token."""
        tail = self._text_tail
        if tail is None or tail[0] != message_id or self._closed:
            return None
        return tail[1]

    def finish(self) -> list[BaseEvent]:
        """The graph's stream ended: RUN_FINISHED with success or interrupt."""
        self._ensure_running()
        if self._interrupts:
            self._open.close_all(suspended=True)
            self._snapshot_state()
            self._snapshot_messages()
            self._interrupt_outcome()
            self._interrupted = True
            return self._flush()
        pending = self._pending_calls()
        self._open.close_all()
        self._snapshot_messages()
        self._terminal(RunFinishedSuccessOutcome(pending_tool_call_ids=pending or None))
        return self._flush()

    def _pending_calls(self) -> list[str]:
        """This run's tool calls that wait for the client: no tool message answers
        them, in the stream or in the final state (a node may write answers
        itself, as dicts), and the final state keeps them (a node may drop a
        streamed call, e.g. a routing call it follows with ``Command(goto=...)``)."""
        calls = self._open.unanswered_call_ids()
        if self._messages is None:
            return calls
        kept = {c["id"] for m in self._messages if isinstance(m, AIMessage) for c in m.tool_calls}
        answered = {m.tool_call_id for m in self._messages if isinstance(m, LcToolMessage)}
        return [c for c in calls if c in kept and c not in answered]

    def cancel(self) -> list[BaseEvent]:
        """The run was stopped on purpose: RUN_FINISHED with outcome cancelled."""
        self._ensure_running()
        self._open.close_all()
        self._snapshot_messages()
        self._terminal(RunFinishedCancelledOutcome())
        return self._flush()

    def fail(self, code: ErrorCode | str, message: str) -> list[BaseEvent]:
        """Close what is open, then RUN_ERROR. A no-op once the run is closed."""
        if self._closed:
            return []
        if not self._started:
            self._open_run()
        self._open.close_all(error=(str(code), message))
        self._closed = True
        self._out.append(RunErrorEvent(message=message, code=str(code), usage=self._usage_totals()))
        return self._flush()

    # -- plumbing -------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._closed:
            raise GraphwireError("the run is already closed")
        if not self._started:
            self._open_run()

    def _flush(self) -> list[BaseEvent]:
        out = self._out[:]
        self._out.clear()
        return out

    def _terminal(self, outcome: RunFinishedOutcome) -> None:
        self._closed = True
        sent = outcome if self._run.client_protocol is not None else _downgraded(outcome)
        self._out.append(
            RunFinishedEvent(
                thread_id=self._run.thread_id,
                run_id=self._run.run_id,
                outcome=sent,
                usage=self._usage_totals(),
            )
        )

    def _interrupt_outcome(self) -> None:
        channel = self._options.interrupt_channel
        if channel != "standard":
            self._out.extend(
                CustomEvent(
                    name=LEGACY_INTERRUPT_EVENT,
                    value=legacy_interrupt_value(i),
                    subagent_run_id=i.subagent_run_id,
                )
                for i in self._interrupts
            )
        if channel == "legacy":
            self._terminal(RunFinishedSuccessOutcome())
        else:
            self._terminal(RunFinishedInterruptOutcome(interrupts=self._interrupts))

    def _usage_totals(self) -> list[TokenUsage] | None:
        return aggregate_token_usage(self._usage) or None

    def _snapshot_state(self) -> None:
        if self._state is not None:
            self._out.append(StateSnapshotEvent(snapshot=self._state))

    def _snapshot_messages(self) -> None:
        if self._messages is not None:
            self._out.append(self._snapshot(self._messages))

    # -- handlers -------------------------------------------------------------

    def _on_text(self, event: ev.TextDelta) -> None:
        self._open.text(event.message_id, event.delta, event.role, event.ns)

    def _on_reasoning(self, event: ev.ReasoningDelta) -> None:
        self._open.reasoning(event.message_id, event.delta, event.ns)

    def _on_encrypted(self, event: ev.ReasoningEncrypted) -> None:
        self._open.encrypted(event.message_id, event.value, event.ns)

    def _on_tool_chunk(self, event: ev.ToolCallChunk) -> None:
        self._open.tool_chunk(event)

    def _on_message_end(self, event: ev.MessageEnd) -> None:
        self._open.end_message(event.message_id)

    def _on_tool_result(self, event: ev.ToolResult) -> None:
        self._open.tool_result(event)

    def _on_interrupt(self, event: ev.InterruptRaised) -> None:
        owner = self._open.owner(event.ns)
        interrupt = to_agui_interrupt(event, self._open.unanswered_calls(), owner)
        self._open.note_interrupt(owner, interrupt.id)
        self._interrupts.append(interrupt)

    def _on_state(self, event: ev.StateValues) -> None:
        values = event.values
        messages = values.get("messages") if isinstance(values, dict) else None
        if messages is None and not isinstance(values, dict):
            messages = getattr(values, "messages", None)
        if isinstance(messages, list):
            self._messages = messages
        visible = visible_state(as_mapping(values), self._options.hidden_state_keys)
        if self._state is None:
            self._out.append(StateSnapshotEvent(snapshot=visible))
        else:
            ops = state_patch(self._state, visible)
            if ops:
                self._out.append(StateDeltaEvent.model_validate({"delta": ops}))
        self._state = visible

    def _on_custom(self, event: ev.CustomWrite) -> None:
        value = event.value
        name = CUSTOM_EVENT_NAME
        if isinstance(value, dict) and isinstance(value.get("name"), str) and "value" in value:
            name, value = value["name"], value["value"]
        self._custom(name, value, event.ns)

    def _custom(self, name: str, value: Any, ns: ev.Namespace) -> None:
        self._out.append(
            CustomEvent(
                name=name,
                value=to_jsonable_python(value, fallback=str),
                subagent_run_id=self._open.owner(ns),
            )
        )

    def _on_dispatched(self, event: ev.DispatchedEvent) -> None:
        """A callback custom event: CopilotKit's and ag-ui-langgraph's emits become
        the events they stand for; any other is a CUSTOM event of its name."""
        name, data = event.name, event.data
        if name in _STATE_DISPATCHES:
            self._emit_state(data)
        elif name in _MESSAGE_DISPATCHES and isinstance(data, dict):
            self._open.emit_message(
                str(data.get("message_id") or data.get("id") or ""),
                str(data.get("message") or ""),
                event.ns,
            )
        elif name in _TOOL_CALL_DISPATCHES and isinstance(data, dict):
            args = data.get("args")
            self._open.emit_tool_call(
                str(data.get("id") or ""),
                str(data.get("name") or ""),
                args if isinstance(args, str) else json.dumps(to_jsonable_python(args)),
                event.ns,
            )
        elif name in _EXIT_DISPATCHES:
            self._custom(EXIT_EVENT, True, event.ns)
        else:
            self._custom(name, data, event.ns)

    def _emit_state(self, values: Any) -> None:
        """State sent mid-node: a snapshot of the state so far with these keys
        replaced (a node may send only what it changed); later deltas start from it."""
        sent = visible_state(as_mapping(values), self._options.hidden_state_keys)
        visible = {**(self._state or {}), **sent}
        self._out.append(StateSnapshotEvent(snapshot=visible))
        self._state = visible

    def _on_predict_state(self, event: ev.PredictState) -> None:
        self._custom(PREDICT_STATE_EVENT, event.entries, event.ns)

    def _on_usage(self, event: ev.Usage) -> None:
        entry = token_usage_from_langchain_metadata(
            event.usage, provider=event.provider, model=event.model
        )
        if entry is not None:
            self._usage.append(entry)

    def _on_node_started(self, event: ev.NodeStarted) -> None:
        self._open.step_started(event.task_id, event.node, event.ns)

    def _on_node_finished(self, event: ev.NodeFinished) -> None:
        self._open.step_finished(event.task_id, event.node, event.ns, event.error)

    def _on_raw(self, event: ev.Raw) -> None:
        if self._options.emit_raw:
            self._out.append(
                RawEvent(event=to_jsonable_python(event.part, fallback=str), source="langgraph")
            )


def _converted(messages: Sequence[Any]) -> MessagesSnapshotEvent:
    return MessagesSnapshotEvent(messages=to_agui_messages(messages))


def _downgraded(outcome: RunFinishedOutcome) -> RunFinishedOutcome | None:
    """The outcome as a pre-1.0 client accepts it: success has no other field,
    cancelled is no outcome at all (the run just finished)."""
    if isinstance(outcome, RunFinishedSuccessOutcome):
        return RunFinishedSuccessOutcome()
    if isinstance(outcome, RunFinishedCancelledOutcome):
        return None
    return outcome


def legacy_interrupt_value(interrupt: Interrupt) -> Any:
    """The ``on_interrupt`` value as ag-ui-langgraph sends it: a string payload as
    it is, any other payload as JSON text (pages written for it parse it)."""
    payload = (interrupt.metadata or {}).get("payload")
    if isinstance(payload, str):
        return payload
    return json.dumps(to_jsonable_python(payload, fallback=str), ensure_ascii=False)


_HANDLERS: dict[type, Callable[[AguiMapper, Any], None]] = {
    ev.TextDelta: AguiMapper._on_text,
    ev.ReasoningDelta: AguiMapper._on_reasoning,
    ev.ReasoningEncrypted: AguiMapper._on_encrypted,
    ev.ToolCallChunk: AguiMapper._on_tool_chunk,
    ev.MessageEnd: AguiMapper._on_message_end,
    ev.ToolResult: AguiMapper._on_tool_result,
    ev.InterruptRaised: AguiMapper._on_interrupt,
    ev.StateValues: AguiMapper._on_state,
    ev.CustomWrite: AguiMapper._on_custom,
    ev.DispatchedEvent: AguiMapper._on_dispatched,
    ev.PredictState: AguiMapper._on_predict_state,
    ev.Usage: AguiMapper._on_usage,
    ev.NodeStarted: AguiMapper._on_node_started,
    ev.NodeFinished: AguiMapper._on_node_finished,
    ev.Raw: AguiMapper._on_raw,
}
"""The mapper's handler for each parsed event type (one table for every run)."""
