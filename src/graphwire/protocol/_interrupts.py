"""LangGraph interrupts -> AG-UI 1.0 ``Interrupt`` objects.

The interrupt id is LangGraph's own id, so a resume entry names exactly the
interrupt it answers. reason, message, toolCallId and responseSchema are read
from the payload by a documented rule; the raw payload always rides in
``metadata.payload`` (docs/adr/0002-event-mapping.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ag_ui.core import Interrupt

from graphwire.protocol._events import InterruptRaised

TOOL_NODE_NAMES: Final = frozenset({"tools"})
"""Nodes that run tool calls (ToolNode's and create_agent's default name)."""

_MESSAGE_KEYS: Final = ("message", "question", "description", "prompt")


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A tool call of this run that has no result yet."""

    call_id: str
    name: str
    args: str


def to_agui_interrupt(
    raised: InterruptRaised, open_calls: list[OpenCall], subagent_run_id: str | None
) -> Interrupt:
    """Build the AG-UI interrupt for one raised LangGraph interrupt."""
    value = raised.value
    payload = value if isinstance(value, Mapping) else {}
    call_id = raised.tool_call_id or _tool_call_id(payload, raised.node, open_calls)
    schema = (
        raised.response_schema
        or _dict(payload.get("responseSchema"))
        or _dict(payload.get("response_schema"))
    )
    reason = payload.get("reason")
    return Interrupt(
        id=raised.interrupt_id,
        reason=reason if isinstance(reason, str) else _default_reason(call_id),
        message=value if isinstance(value, str) else _message(payload),
        tool_call_id=call_id,
        response_schema=schema,
        subagent_run_id=subagent_run_id,
        metadata={"payload": value},
    )


def _default_reason(call_id: str | None) -> str:
    return "tool_approval" if call_id else "input_required"


def _message(payload: Mapping[str, Any]) -> str | None:
    for key in _MESSAGE_KEYS:
        if isinstance(payload.get(key), str):
            return str(payload[key])
    return None


def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


def _tool_call_id(
    payload: Mapping[str, Any], node: str | None, open_calls: list[OpenCall]
) -> str | None:
    for key in ("tool_call_id", "toolCallId"):
        if isinstance(payload.get(key), str):
            return str(payload[key])
    matched = _match_action_request(payload, open_calls)
    if matched is not None:
        return matched
    if node in TOOL_NODE_NAMES and len(open_calls) == 1:
        return open_calls[0].call_id
    return None


def _match_action_request(payload: Mapping[str, Any], open_calls: list[OpenCall]) -> str | None:
    """LangChain's HumanInTheLoopMiddleware payload: match by tool name."""
    requests = payload.get("action_requests")
    if not isinstance(requests, list) or len(requests) != 1:
        return None
    name = requests[0].get("name") if isinstance(requests[0], Mapping) else None
    candidates = [call.call_id for call in open_calls if call.name == name]
    return candidates[0] if len(candidates) == 1 else None
