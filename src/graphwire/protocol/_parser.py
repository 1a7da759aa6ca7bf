"""LangGraph ``astream(..., version="v2", subgraphs=True)`` parts -> typed events.

Pure: it keeps just enough memory to report each message, tool result and
interrupt exactly once (docs/adr/0002-event-mapping.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from graphwire.protocol._content import reasoning_of, text_of
from graphwire.protocol._events import (
    CustomWrite,
    DispatchedEvent,
    InterruptRaised,
    MessageEnd,
    Namespace,
    NodeFinished,
    NodeStarted,
    ParsedEvent,
    PredictState,
    Raw,
    ReasoningDelta,
    ReasoningEncrypted,
    StateValues,
    TextDelta,
    ToolCallChunk,
    ToolResult,
    Usage,
)

_Call = tuple[int, str | None, str | None, str]
"""A tool call in a message: its index, id, name and (partial) arguments."""

STREAM_MODES: Final = ("messages", "tasks", "custom", "values")
"""The stream modes graphwire asks LangGraph for: together they carry every
token, node boundary, interrupt, custom write and state change."""

_INTERRUPT_KEY: Final = "__interrupt__"

_EMIT_MESSAGES: Final = ("copilotkit:emit-messages", "emit-messages")
_EMIT_TOOL_CALLS: Final = ("copilotkit:emit-tool-calls", "emit-tool-calls")
_PREDICT_STATE: Final = ("predict_state", "copilotkit:emit-intermediate-state")
"""Model-call metadata CopilotKit's ``copilotkit_customize_config`` (and
ag-ui-langgraph) set: hide a call's text or tool calls, predict state from
tool arguments (docs/adr/0008-drop-in-compatibility.md)."""

_TEXT_KINDS: Final = (TextDelta, ReasoningDelta, ReasoningEncrypted)


def _hidden(meta: Mapping[str, Any]) -> tuple[type, ...]:
    """The kinds of event a model call's metadata asks to keep from the client."""
    hidden: tuple[type, ...] = ()
    if any(meta.get(key) is False for key in _EMIT_MESSAGES):
        hidden += _TEXT_KINDS
    if any(meta.get(key) is False for key in _EMIT_TOOL_CALLS):
        hidden += (ToolCallChunk,)
    return hidden


def _predictions(meta: Mapping[str, Any]) -> list[Any]:
    for key in _PREDICT_STATE:
        entries = meta.get(key)
        if isinstance(entries, list) and entries:
            return entries
    return []


def _plain_text(chunk: AIMessageChunk) -> str | None:
    """The chunk's text when it carries nothing but text (no reasoning, tool
    call, usage or end marker); else None."""
    content = chunk.content
    if (
        content.__class__ is str
        and not chunk.additional_kwargs
        and not chunk.tool_call_chunks
        and chunk.usage_metadata is None
        and chunk.chunk_position is None
    ):
        return content
    return None


class StreamParser:
    """Turns stream parts into typed events, one part at a time."""

    def __init__(self, *, raw: bool = False) -> None:
        self._raw = raw
        self._ended: set[str] = set()
        self._results: set[str] = set()
        self._interrupts: set[str] = set()
        self._task_calls: dict[str, str] = {}
        self._late: dict[str, tuple[Any, Namespace]] = {}
        self._predicted: set[tuple[str, int]] = set()

    def parse(self, part: Mapping[str, Any]) -> list[ParsedEvent]:
        """Parse one v2 stream part (``{"type", "ns", "data", ...}``)."""
        out: list[ParsedEvent] = [Raw(part)] if self._raw else []
        kind = part["type"]
        ns: Namespace = tuple(part.get("ns") or ())
        data = part["data"]
        if kind == "messages":
            self._message(data[0], data[1], ns, out)
        elif kind == "tasks":
            self._task(data, ns, out)
        elif kind == "values":
            if not ns:
                out.append(StateValues(data))
            for item in part.get("interrupts") or ():
                self._late.setdefault(str(item.id), (item, ns))
        elif kind == "custom":
            if isinstance(data, DispatchedEvent):
                out.append(DispatchedEvent(data.name, data.data, ns))
            else:
                out.append(CustomWrite(data, ns))
        elif kind == "updates" and isinstance(data, Mapping):
            self._interrupts_from(data.get(_INTERRUPT_KEY) or (), ns, None, out)
        return out

    def text_token(self, part: Mapping[str, Any]) -> tuple[str, str] | None:
        """``(message id, text)`` when ``part`` is a plain streamed text token of a
        message still streaming — the hot path, which ``parse`` would turn into
        exactly one TextDelta — else None."""
        if self._raw or part["type"] != "messages":
            return None
        chunk = part["data"][0]
        if chunk.__class__ is not AIMessageChunk:
            return None
        text = _plain_text(chunk)
        msg_id = chunk.id or ""
        if not text or msg_id in self._ended:
            return None
        return msg_id, text

    def flush(self) -> list[ParsedEvent]:
        """At the end of the stream: interrupts seen only in ``values`` parts.

        Task results name the node (and tool call) that raised an interrupt, so
        they are preferred; values parts, which arrive first, are the fallback.
        """
        out: list[ParsedEvent] = []
        for item, ns in self._late.values():
            self._interrupts_from((item,), ns, None, out)
        self._late.clear()
        return out

    # -- messages -----------------------------------------------------------

    def _message(
        self,
        message: BaseMessage,
        meta: Mapping[str, Any],
        ns: Namespace,
        out: list[ParsedEvent],
    ) -> None:
        node = meta.get("langgraph_node")
        if isinstance(message, AIMessage):
            events: list[ParsedEvent] = []
            if isinstance(message, AIMessageChunk):
                self._ai_chunk(message, node, ns, events)
            else:
                self._ai_whole(message, node, ns, events)
            hidden = _hidden(meta)
            self._announce(
                [e for e in events if not isinstance(e, hidden)] if hidden else events,
                _predictions(meta),
                out,
            )
        elif isinstance(message, ToolMessage):
            self._tool_result(message, ns, out)
        elif isinstance(message, HumanMessage | SystemMessage):
            self._other_whole(message, node, ns, out)

    def _announce(
        self, events: list[ParsedEvent], predictions: list[Any], out: list[ParsedEvent]
    ) -> None:
        """``events`` into ``out``, a PredictState before the first chunk of each
        tool call that the model call's ``predict_state`` names."""
        if not predictions:
            out.extend(events)
            return
        tools = {p.get("tool") for p in predictions if isinstance(p, Mapping)}
        for event in events:
            if isinstance(event, ToolCallChunk) and event.name in tools:
                key = (event.message_id, event.index)
                if key not in self._predicted:
                    self._predicted.add(key)
                    out.append(PredictState(predictions, event.ns))
            out.append(event)

    def _ai_chunk(
        self, chunk: AIMessageChunk, node: str | None, ns: Namespace, out: list[ParsedEvent]
    ) -> None:
        msg_id = chunk.id or ""
        if msg_id in self._ended:
            return
        text = _plain_text(chunk)
        if text is not None:  # the hot path: a plain text token
            if text:
                out.append(TextDelta(msg_id, text, ns, "assistant", node))
            return
        calls: list[_Call] = []
        for position, call in enumerate(chunk.tool_call_chunks):
            index = call.get("index")
            at = position if index is None else int(index)
            calls.append((at, call.get("id"), call.get("name"), call.get("args") or ""))
        self._ai(chunk, calls, node, ns, out, ended=chunk.chunk_position == "last")

    def _ai_whole(
        self, message: AIMessage, node: str | None, ns: Namespace, out: list[ParsedEvent]
    ) -> None:
        msg_id = message.id or ""
        if msg_id in self._ended:
            return
        calls: list[_Call] = [
            (index, call["id"], call["name"], json.dumps(call["args"], ensure_ascii=False))
            for index, call in enumerate(message.tool_calls)
        ]
        calls.extend(
            (index, bad["id"], bad["name"], bad["args"] or "")
            for index, bad in enumerate(message.invalid_tool_calls, start=len(calls))
        )
        self._ai(message, calls, node, ns, out, ended=True)

    def _ai(
        self,
        message: AIMessage,
        calls: list[_Call],
        node: str | None,
        ns: Namespace,
        out: list[ParsedEvent],
        *,
        ended: bool,
    ) -> None:
        """What an AI message (whole, or a chunk of one) carries: reasoning, text,
        tool calls (index, id, name, arguments), usage, and its end."""
        msg_id = message.id or ""
        self._reasoning(message, msg_id, ns, out)
        text = text_of(message.content)
        if text:
            out.append(TextDelta(msg_id, text, ns, "assistant", node))
        out.extend(ToolCallChunk(msg_id, *call, ns) for call in calls)
        self._usage(message, out)
        if ended:
            self._ended.add(msg_id)
            out.append(MessageEnd(msg_id, ns))

    def _other_whole(
        self, message: BaseMessage, node: str | None, ns: Namespace, out: list[ParsedEvent]
    ) -> None:
        msg_id = message.id or ""
        if msg_id in self._ended:
            return
        self._ended.add(msg_id)
        role: Literal["user", "system"] = "user" if isinstance(message, HumanMessage) else "system"
        out.append(TextDelta(msg_id, text_of(message.content), ns, role, node))
        out.append(MessageEnd(msg_id, ns))

    def _tool_result(self, message: ToolMessage, ns: Namespace, out: list[ParsedEvent]) -> None:
        msg_id = message.id or ""
        if msg_id in self._results:
            return
        self._results.add(msg_id)
        content = message.content
        text = content if isinstance(content, str) else _json_text(content)
        error = message.status == "error"
        out.append(ToolResult(msg_id, message.tool_call_id, text, error, ns))

    @staticmethod
    def _reasoning(
        message: BaseMessage, msg_id: str, ns: Namespace, out: list[ParsedEvent]
    ) -> None:
        text, secrets = reasoning_of(message)
        if text:
            out.append(ReasoningDelta(msg_id, text, ns))
        out.extend(ReasoningEncrypted(msg_id, secret, ns) for secret in secrets)

    @staticmethod
    def _usage(message: AIMessage | AIMessageChunk, out: list[ParsedEvent]) -> None:
        usage = message.usage_metadata
        if not usage:
            return
        meta = message.response_metadata
        model = meta.get("model_name") or meta.get("model")
        provider = meta.get("model_provider")
        out.append(Usage(dict(usage), model, provider))

    # -- tasks and interrupts -----------------------------------------------

    def _task(self, data: Mapping[str, Any], ns: Namespace, out: list[ParsedEvent]) -> None:
        task_id = str(data["id"])
        node = str(data["name"])
        if "input" in data:
            call_id = _tool_call_id_of(data["input"])
            if call_id is not None:
                self._task_calls[task_id] = call_id
            out.append(NodeStarted(task_id, node, ns))
            return
        call_id = self._task_calls.pop(task_id, None)
        self._interrupts_from(data.get("interrupts") or (), ns, node, out, call_id)
        error = data.get("error")
        out.append(NodeFinished(task_id, node, None if error is None else str(error), ns))

    def _interrupts_from(
        self,
        interrupts: Iterable[Any],
        ns: Namespace,
        node: str | None,
        out: list[ParsedEvent],
        call_id: str | None = None,
    ) -> None:
        for item in interrupts:
            fields = item if isinstance(item, Mapping) else _interrupt_fields(item)
            interrupt_id = str(fields["id"])
            if interrupt_id in self._interrupts:
                continue
            self._interrupts.add(interrupt_id)
            schema = fields.get("response_schema")
            out.append(
                InterruptRaised(
                    interrupt_id,
                    fields.get("value"),
                    schema if isinstance(schema, dict) else None,
                    node,
                    ns,
                    call_id,
                )
            )


def _interrupt_fields(item: Any) -> dict[str, Any]:
    return {
        "id": item.id,
        "value": item.value,
        "response_schema": getattr(item, "response_schema", None),
    }


def _tool_call_id_of(task_input: Any) -> str | None:
    """The tool call a task runs, when the task runs exactly one (Send per call)."""
    if not isinstance(task_input, Mapping):
        return None
    call = task_input.get("tool_call")
    if isinstance(call, Mapping) and isinstance(call.get("id"), str):
        return str(call["id"])
    return None


def _json_text(content: Any) -> str:
    text = text_of(content)
    return text if text else json.dumps(content, default=str, ensure_ascii=False)
