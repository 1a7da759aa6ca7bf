"""Bookkeeping of what a run has open: messages, reasoning, tool calls, steps
and subagents — and the one place that opens and closes them, so every START
gets its END and no id is used twice within a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ag_ui.core import (
    BaseEvent,
    ReasoningEncryptedValueEvent,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    StepFinishedEvent,
    StepStartedEvent,
    SubagentErrorEvent,
    SubagentFinishedEvent,
    SubagentFinishedSuspendedOutcome,
    SubagentStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)

from graphwire.protocol._events import Namespace, ToolCallChunk, ToolResult
from graphwire.protocol._interrupts import OpenCall
from graphwire.protocol._messages import reasoning_message_id

Role = Literal["assistant", "user", "system", "developer"]
_NS_SEP = "|"


@dataclass(slots=True)
class _Call:
    call_id: str | None = None
    name: str | None = None
    pending: list[str] = field(default_factory=list)
    wire_id: str | None = None


@dataclass(slots=True)
class _Message:
    wire_id: str
    owner: str | None
    text_id: str | None = None
    reasoning_id: str | None = None
    text_segments: int = 0
    calls: dict[int, _Call] = field(default_factory=dict)


class OpenEntities:
    """Opens and closes AG-UI entities, appending the events to ``out``."""

    def __init__(self, out: list[BaseEvent], *, subagents: bool = True) -> None:
        self._out = out
        self._with_subagents = subagents
        self._messages: dict[str, _Message] = {}
        self._used: set[str] = set()
        self._unanswered: dict[str, OpenCall] = {}
        self._args: dict[str, list[str]] = {}
        self._steps: dict[tuple[str | None, str], int] = {}
        self._task_steps: dict[str, tuple[str | None, str]] = {}
        self._subagents: list[str] = []
        self._finished: set[str] = set()
        self._suspended: set[str] = set()

    # -- ids and owners -------------------------------------------------------

    def _unique(self, wanted: str) -> str:
        wire, n = wanted, 1
        while wire in self._used:
            n += 1
            wire = f"{wanted}-{n}"
        self._used.add(wire)
        return wire

    def owner(self, ns: Namespace) -> str | None:
        """The subagent run id for a namespace, announcing it if new; always None
        when subagents are off (everything is the run's own)."""
        owner: str | None = None
        if not self._with_subagents:
            return owner
        for depth in range(1, len(ns) + 1):
            sid = _NS_SEP.join(ns[:depth])
            if sid in self._finished:
                return owner
            if sid not in self._subagents:
                self._subagents.append(sid)
                self._out.append(
                    SubagentStartedEvent(
                        subagent_run_id=sid,
                        name=ns[depth - 1].split(":", 1)[0],
                        parent_subagent_run_id=owner,
                    )
                )
            owner = sid
        return owner

    def _message(self, msg_id: str, ns: Namespace) -> _Message:
        message = self._messages.get(msg_id)
        if message is None:
            message = _Message(self._unique(msg_id), self.owner(ns))
            self._messages[msg_id] = message
        return message

    # -- text and reasoning ---------------------------------------------------

    def text(self, msg_id: str, delta: str, role: Role, ns: Namespace) -> None:
        message = self._message(msg_id, ns)
        self._close_reasoning(message)
        if message.text_id is None:
            first = message.text_segments == 0
            text_id = message.wire_id if first else self._unique(message.wire_id)
            message.text_segments += 1
            message.text_id = text_id
            self._out.append(
                TextMessageStartEvent(message_id=text_id, role=role, subagent_run_id=message.owner)
            )
        if delta:
            self._out.append(TextMessageContentEvent(message_id=message.text_id, delta=delta))

    def emit_message(self, msg_id: str, text: str, ns: Namespace) -> None:
        """A whole assistant message the agent sent by hand (not from a model)."""
        self.text(msg_id, text, "assistant", ns)
        self.end_message(msg_id)

    def emit_tool_call(self, call_id: str, name: str, args: str, ns: Namespace) -> None:
        """A whole tool call the agent sent by hand, in a message of its own."""
        msg_id = f"{call_id}-message"
        self.tool_chunk(ToolCallChunk(msg_id, 0, call_id, name, args, ns))
        self.end_message(msg_id)

    def reasoning(self, msg_id: str, delta: str, ns: Namespace) -> None:
        message = self._message(msg_id, ns)
        rid = self._open_reasoning(message)
        self._out.append(ReasoningMessageContentEvent(message_id=rid, delta=delta))

    def encrypted(self, msg_id: str, value: str, ns: Namespace) -> None:
        message = self._message(msg_id, ns)
        rid = self._open_reasoning(message)
        self._out.append(
            ReasoningEncryptedValueEvent(subtype="message", entity_id=rid, encrypted_value=value)
        )

    def _open_reasoning(self, message: _Message) -> str:
        if message.reasoning_id is not None:
            return message.reasoning_id
        self._close_text(message)
        rid = self._unique(reasoning_message_id(message.wire_id))
        message.reasoning_id = rid
        owner = message.owner
        self._out.append(ReasoningStartEvent(message_id=rid, subagent_run_id=owner))
        self._out.append(
            ReasoningMessageStartEvent(message_id=rid, role="reasoning", subagent_run_id=owner)
        )
        return rid

    def _close_reasoning(self, message: _Message) -> None:
        rid = message.reasoning_id
        if rid is None:
            return
        message.reasoning_id = None
        self._out.append(ReasoningMessageEndEvent(message_id=rid))
        self._out.append(ReasoningEndEvent(message_id=rid))

    def _close_text(self, message: _Message) -> None:
        if message.text_id is not None:
            self._out.append(TextMessageEndEvent(message_id=message.text_id))
            message.text_id = None

    # -- tool calls -----------------------------------------------------------

    def tool_chunk(self, chunk: ToolCallChunk) -> None:
        message = self._message(chunk.message_id, chunk.ns)
        call = message.calls.setdefault(chunk.index, _Call())
        call.call_id = call.call_id or chunk.call_id
        call.name = call.name or chunk.name
        if call.wire_id is not None:
            self._args_delta(call.wire_id, chunk.args)
            return
        call.pending.append(chunk.args)
        if call.call_id and call.name:
            self._start_call(message, chunk.index, call)

    def _start_call(self, message: _Message, index: int, call: _Call) -> str:
        self._close_reasoning(message)
        self._close_text(message)
        wire = self._unique(call.call_id or f"{message.wire_id}-call-{index}")
        call.wire_id = wire
        name = call.name or ""
        self._out.append(
            ToolCallStartEvent(
                tool_call_id=wire,
                tool_call_name=name,
                parent_message_id=message.wire_id,
                subagent_run_id=message.owner,
            )
        )
        self._unanswered[wire] = OpenCall(wire, name, "")
        self._args[wire] = []
        self._args_delta(wire, "".join(call.pending))
        call.pending.clear()
        return wire

    def _args_delta(self, wire: str, delta: str) -> None:
        if delta:
            self._args[wire].append(delta)
            self._out.append(ToolCallArgsEvent(tool_call_id=wire, delta=delta))

    def _close_call(self, message: _Message, index: int, call: _Call) -> None:
        wire = call.wire_id or self._start_call(message, index, call)
        self._out.append(ToolCallEndEvent(tool_call_id=wire))
        if wire in self._unanswered:
            self._unanswered[wire] = OpenCall(wire, call.name or "", "".join(self._args[wire]))

    def tool_result(self, result: ToolResult) -> None:
        for msg_id, message in list(self._messages.items()):
            if any(call.wire_id == result.call_id for call in message.calls.values()):
                self.end_message(msg_id)
        self._unanswered.pop(result.call_id, None)
        self._out.append(
            ToolCallResultEvent(
                message_id=self._unique(result.message_id),
                tool_call_id=result.call_id,
                content=result.content,
                role="tool",
                subagent_run_id=self.owner(result.ns),
                metadata={"error": True} if result.error else None,
            )
        )

    def unanswered_calls(self) -> list[OpenCall]:
        return list(self._unanswered.values())

    def unanswered_call_ids(self) -> list[str]:
        return list(self._unanswered)

    # -- messages -------------------------------------------------------------

    def end_message(self, msg_id: str) -> None:
        message = self._messages.pop(msg_id, None)
        if message is None:
            return
        self._close_reasoning(message)
        self._close_text(message)
        for index, call in message.calls.items():
            self._close_call(message, index, call)

    # -- steps and subagents --------------------------------------------------

    def step_started(self, task_id: str, node: str, ns: Namespace) -> None:
        key = (self.owner(ns), node)
        self._task_steps[task_id] = key
        count = self._steps.get(key, 0)
        if count == 0:
            self._out.append(StepStartedEvent(step_name=node, subagent_run_id=key[0]))
        self._steps[key] = count + 1

    def step_finished(self, task_id: str, node: str, ns: Namespace, error: str | None) -> None:
        key = self._task_steps.pop(task_id, None)
        if key is not None:
            self._release_step(key)
        sid = _NS_SEP.join((*ns, f"{node}:{task_id}"))
        if sid in self._subagents:
            self._close_subagent(sid, None if error is None else ("SUBAGENT_ERROR", error))

    def _release_step(self, key: tuple[str | None, str]) -> None:
        count = self._steps.get(key, 0) - 1
        if count > 0:
            self._steps[key] = count
            return
        self._steps.pop(key, None)
        self._out.append(StepFinishedEvent(step_name=key[1], subagent_run_id=key[0]))

    def note_interrupt(self, owner: str | None, interrupt_id: str) -> None:
        while owner:
            self._suspended.add(owner)
            owner = owner.rpartition(_NS_SEP)[0] or None

    def _close_subagent(self, sid: str, error: tuple[str, str] | None, final: bool = False) -> None:
        for child in [s for s in self._subagents if s.startswith(sid + _NS_SEP)]:
            self._close_subagent(child, error, final)
        self._close_owned(lambda owner: owner == sid)
        self._subagents.remove(sid)
        self._finished.add(sid)
        if error is not None:
            code, message = error
            self._out.append(SubagentErrorEvent(subagent_run_id=sid, message=message, code=code))
            return
        outcome = SubagentFinishedSuspendedOutcome() if final and sid in self._suspended else None
        self._out.append(SubagentFinishedEvent(subagent_run_id=sid, outcome=outcome))

    def _close_owned(self, owned: Any) -> None:
        for msg_id, message in list(self._messages.items()):
            if owned(message.owner):
                self.end_message(msg_id)
        for key in [k for k in self._steps if owned(k[0])]:
            self._steps[key] = 1
            self._release_step(key)

    def close_all(self, *, suspended: bool = False, error: tuple[str, str] | None = None) -> None:
        """Close everything still open, innermost first (before a terminal event)."""
        self._close_owned(lambda owner: owner is not None)
        for sid in [s for s in self._subagents if _NS_SEP not in s]:
            self._close_subagent(sid, error, final=suspended)
        self._close_owned(lambda owner: True)
        self._task_steps.clear()
