"""RunAgentInput -> what to call the graph with: input or Command(resume), config.

Pure: the runs layer reads the thread's checkpoint into a ``ThreadView`` and
performs the fork this module asks for (docs/adr/0003-run-input.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ag_ui.core import Message, ResumeEntry, RunAgentInput, UserMessage
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.types import Command
from pydantic_core import to_jsonable_python

from graphwire.protocol._events import InterruptRaised
from graphwire.protocol._messages import (
    answer_abandoned_calls,
    graph_messages,
    text_changed,
    to_langchain_messages,
)
from graphwire.protocol.errors import ErrorCode, InputError

CONFIG_KEY: Final = "ag_ui"
"""``config["configurable"][CONFIG_KEY]`` holds the run's AG-UI context."""


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """The thread is paused at a static breakpoint (``interrupt_before`` /
    ``interrupt_after``): clients see it as an interrupt with this id."""

    checkpoint_id: str
    when: Literal["before", "after"]
    nodes: tuple[str, ...]
    """The nodes that run next."""

    @property
    def interrupt_id(self) -> str:
        """The id the pause goes by as an interrupt (unique per checkpoint)."""
        return f"breakpoint:{self.checkpoint_id}"

    def raised(self) -> InterruptRaised:
        """The interrupt the client sees for it."""
        names = ", ".join(repr(n) for n in self.nodes)
        value = {
            "reason": "breakpoint",
            "when": self.when,
            "node": self.nodes[0],
            "nodes": list(self.nodes),
            "message": f"Paused at a breakpoint; {names} run(s) next. Resume to continue.",
        }
        return InterruptRaised(self.interrupt_id, value, node=self.nodes[0])


@dataclass(frozen=True, slots=True)
class ThreadView:
    """What the thread's checkpoint holds before the run."""

    messages: tuple[BaseMessage, ...] = ()
    pending_interrupt_ids: tuple[str, ...] = ()
    state_keys: frozenset[str] = field(default_factory=frozenset)
    """The graph's state keys (channels); empty means unknown."""
    paused_at: Breakpoint | None = None
    """Set when the thread waits at a static breakpoint (its id is then the one
    pending interrupt id)."""
    resume_failed: bool = False
    """The last resume reached the node and failed there: LangGraph keeps the
    answer it gave ``interrupt()`` and would give it again to the next resume."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """The state's values: a key the client sends back as it was sent (the
    same JSON) is not written again, so what JSON does not carry (dataclasses,
    pydantic models) stays as the graph wrote it."""
    agent: str | None = None
    """The agent whose run wrote the latest checkpoint (None: unknown)."""


@dataclass(frozen=True, slots=True)
class GraphCall:
    """How to call the graph for one run."""

    input: Any
    config: dict[str, Any]
    fork_before: str | None = None
    """Run from the latest checkpoint that does not yet hold this message id."""


def plan_run(run: RunAgentInput, thread: ThreadView) -> GraphCall:
    """Decide the graph input and config for ``run`` on a thread in state ``thread``."""
    config = _config(run)
    # Only what the thread does not hold yet is converted: a client sends its
    # whole history every turn.
    messages = graph_messages(run.messages)
    fork = _fork_point(messages, thread.messages)
    if fork is None:
        known = {m.id for m in thread.messages}
        new = to_langchain_messages([m for m in messages if m.id not in known])
        if not thread.pending_interrupt_ids:  # else a call may still be under way
            new = answer_abandoned_calls(thread.messages, new)
    else:
        new = to_langchain_messages(messages[fork[1] :]) if fork[1] is not None else []
    # An edit runs from an earlier checkpoint: all the client's state applies there.
    updates = _updates(run, new, thread.state_keys, thread.values if fork is None else {})
    if thread.paused_at is not None and (fork is None or is_resume(run)):
        return _continue_from_breakpoint(run, thread, updates, config)
    resume = _resume_value(run, thread)
    if resume is not None:
        _check_resume_messages(fork, new)
        return GraphCall(Command(resume=resume.value, update=updates or None), config)
    if thread.pending_interrupt_ids and fork is None:
        raise InputError(
            ErrorCode.INTERRUPT_PENDING,
            "the thread is waiting for answers to interrupts "
            f"{list(thread.pending_interrupt_ids)}; send them in `resume`",
        )
    return GraphCall(updates or None, config, fork[0] if fork else None)


def _check_resume_messages(fork: tuple[str, int | None] | None, new: list[BaseMessage]) -> None:
    """A resume goes on where the thread waits, its new messages written before
    the answer is taken: a user message there would come between a tool call and
    its result (and go unanswered), an edit would rewrite what the waiting step
    was asked. Either is a run of its own, after the resume or instead of it."""
    if fork is not None and fork[1] is not None:
        raise InputError(
            ErrorCode.INVALID_INPUT,
            f"a resume cannot also edit message {fork[0]!r}: send the edit without resume",
        )
    asked = [str(m.id) for m in new if isinstance(m, HumanMessage)]
    if asked:
        raise InputError(
            ErrorCode.INVALID_INPUT,
            f"a resume cannot carry new user messages {asked}: send them in the next run",
        )


def _continue_from_breakpoint(
    run: RunAgentInput, thread: ThreadView, updates: dict[str, Any], config: dict[str, Any]
) -> GraphCall:
    """Any run on a thread paused at a breakpoint continues at the paused node,
    with its new messages and state. Never ``Command(resume=...)``: no
    ``interrupt()`` waits for it, and the next one would take it as its answer."""
    if run.resume:
        check_answers(
            [entry.interrupt_id for entry in run.resume], list(thread.pending_interrupt_ids)
        )
    return GraphCall(Command(update=updates) if updates else None, config)


def _fork_point(
    messages: Sequence[Message], stored: Sequence[BaseMessage]
) -> tuple[str, int | None] | None:
    """(message id to fork before, index in input to send from) for edits/regenerate."""
    by_id = {m.id: m for m in stored}
    for index, message in enumerate(messages):
        old = by_id.get(message.id)
        if old is not None and text_changed(old, message):
            return str(message.id), index
    if not messages or any(m.id not in by_id for m in messages):
        return None
    order = [m.id for m in stored]
    last = order.index(messages[-1].id)
    if last + 1 < len(order) and isinstance(messages[-1], UserMessage):
        return str(order[last + 1]), None
    return None


def _updates(
    run: RunAgentInput, new: list[BaseMessage], keys: frozenset[str], held: Mapping[str, Any]
) -> dict[str, Any]:
    """The graph input: the client's changed state, new messages, frontend tools.
    A state key equal to ``held``'s value as the client was sent it is unchanged."""
    updates: dict[str, Any] = {}
    if isinstance(run.state, Mapping):
        updates.update(
            (k, v)
            for k, v in run.state.items()
            if k != "messages" and (not keys or k in keys) and not _unchanged(held, k, v)
        )
    if new:
        updates["messages"] = new
    tools = frontend_tool_specs(run)
    carriers = {
        "tools": tools,
        "copilotkit": {"actions": tools, "context": [c.model_dump() for c in run.context or ()]},
    }
    # Written only when they changed: a resume retried after a failed attempt
    # would write them a second time in the step LangGraph keeps pending.
    updates.update(
        (key, value)
        for key, value in carriers.items()
        if key in keys and not _unchanged(held, key, value)
    )
    return updates


def _unchanged(held: Mapping[str, Any], key: str, sent: Any) -> bool:
    return key in held and to_jsonable_python(held[key], fallback=str) == sent


def frontend_tool_specs(run: RunAgentInput) -> list[dict[str, Any]]:
    """The client's tools as ``{name, description, parameters}`` dicts."""
    return [
        {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters or {"type": "object", "properties": {}},
        }
        for tool in run.tools or ()
    ]


def _config(run: RunAgentInput) -> dict[str, Any]:
    context = {
        "thread_id": run.thread_id,
        "run_id": run.run_id,
        "parent_run_id": run.parent_run_id,
        "tools": frontend_tool_specs(run),
        "context": [c.model_dump() for c in run.context or ()],
        "forwarded_props": run.forwarded_props,
        "state": run.state,
    }
    return {"configurable": {"thread_id": run.thread_id, CONFIG_KEY: context}}


# -- resume ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    """What ``interrupt()`` returns on resume (``None`` is an answer too)."""

    value: Any


def _resume_value(run: RunAgentInput, thread: ThreadView) -> _Answer | None:
    entries = run.resume or []
    pending = list(thread.pending_interrupt_ids)
    if not entries:
        legacy = _legacy_resume(run.forwarded_props)
        if legacy is None or (pending and legacy.value is not None):
            return legacy
        if pending:  # By id: LangGraph reads Command(resume=None) as no resume.
            return _Answer(dict.fromkeys(pending))
        if legacy.value is None:  # as ag-ui-langgraph reads it: no resume at all
            return None
        raise InputError(
            ErrorCode.UNKNOWN_INTERRUPT,
            "forwardedProps.command.resume answers an interrupt; the thread waits for none",
        )
    answered = [entry.interrupt_id for entry in entries]
    check_answers(answered, pending)
    values = {entry.interrupt_id: _entry_value(entry) for entry in entries}
    if len(pending) == 1 and values[pending[0]] is not None:
        return _Answer(values[pending[0]])
    # By id: LangGraph reads a bare Command(resume=None) as no resume at all.
    return _Answer(values)


def check_answers(answered: Sequence[str], pending: Sequence[str]) -> None:
    """Raise ``InputError`` unless ``answered`` names each of ``pending`` once and
    nothing else (the codes say which rule broke)."""
    unknown = [i for i in answered if i not in pending]
    if unknown:
        raise InputError(
            ErrorCode.UNKNOWN_INTERRUPT,
            f"resume names interrupts the thread is not waiting for: {unknown}",
        )
    if len(set(answered)) != len(answered):
        raise InputError(ErrorCode.INVALID_INPUT, "resume answers an interrupt twice")
    missing = [i for i in pending if i not in answered]
    if missing:
        raise InputError(
            ErrorCode.RESUME_INCOMPLETE,
            f"resume must answer every open interrupt; missing {missing}",
        )


def _entry_value(entry: ResumeEntry) -> Any:
    if entry.status == "cancelled":
        return cancelled_resume(entry.payload)
    return entry.payload


def cancelled_resume(payload: Any = None) -> dict[str, Any]:
    """The value ``interrupt()`` returns when the client abandons the interrupt.

    A plain dict so it survives every checkpointer's serializer; test for it
    with ``is_cancelled_resume``.
    """
    return {"status": "cancelled", "payload": payload}


def is_cancelled_resume(value: Any) -> bool:
    """True when ``interrupt()`` returned because the client cancelled it."""
    return (
        isinstance(value, Mapping)
        and set(value) == {"status", "payload"}
        and (value["status"] == "cancelled")
    )


def is_resume(run: RunAgentInput) -> bool:
    """True when ``run`` answers interrupts: ``resume[]`` or the legacy
    ``forwardedProps.command.resume``."""
    return bool(run.resume) or _legacy_resume(run.forwarded_props) is not None


def _legacy_resume(forwarded: Any) -> _Answer | None:
    """``forwardedProps.command.resume``, as ag-ui-langgraph clients send it."""
    if not isinstance(forwarded, Mapping):
        return None
    command = forwarded.get("command")
    if not isinstance(command, Mapping) or "resume" not in command:
        return None
    return _Answer(command["resume"])
