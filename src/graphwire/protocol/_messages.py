"""Messages both ways: LangChain <-> AG-UI, keeping every id.

The ids in MESSAGES_SNAPSHOT equal the ids the stream used, so a client never
shows a message twice. Reasoning and activity messages are display-only in
AG-UI; on input they are skipped because the checkpoint already holds the
reasoning inside its AI message (docs/adr/0002-event-mapping.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from ag_ui.core import (
    AssistantMessage,
    DeveloperMessage,
    FunctionCall,
    ImagePart,
    Message,
    ReasoningMessage,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, InvalidToolCall
from langchain_core.messages import SystemMessage as LcSystemMessage
from langchain_core.messages import ToolMessage as LcToolMessage
from langchain_core.messages.tool import tool_call as lc_tool_call
from pydantic_core import from_json

from graphwire.protocol._content import reasoning_of, text_of
from graphwire.protocol._storable import unstorable
from graphwire.protocol.errors import ErrorCode, InputError

_DEVELOPER_KEY: Final = "__openai_role__"
_MEDIA_TYPES: Final = {"image": "image", "audio": "audio", "video": "video", "document": "file"}


def reasoning_message_id(message_id: str) -> str:
    """The id of the reasoning message that belongs to an AI message."""
    return f"{message_id}-reasoning"


# -- LangChain -> AG-UI --------------------------------------------------------


def to_agui_messages(messages: Iterable[BaseMessage]) -> list[Message]:
    """Convert a thread's LangChain messages for MESSAGES_SNAPSHOT."""
    out: list[Message] = []
    for message in messages:
        out.extend(_to_agui(message))
    return out


def _to_agui(message: BaseMessage) -> list[Message]:
    msg_id = message.id or ""
    if isinstance(message, AIMessage):
        return _assistant(message, msg_id)
    if isinstance(message, LcToolMessage):
        content = text_of(message.content) or _json(message.content)
        error = content if message.status == "error" else None
        return [
            ToolMessage(id=msg_id, content=content, tool_call_id=message.tool_call_id, error=error)
        ]
    if isinstance(message, HumanMessage):
        return [UserMessage(id=msg_id, content=_agui_content(message.content), name=message.name)]
    if isinstance(message, LcSystemMessage):
        text = text_of(message.content)
        if message.additional_kwargs.get(_DEVELOPER_KEY) == "developer":
            return [DeveloperMessage(id=msg_id, content=text, name=message.name)]
        return [SystemMessage(id=msg_id, content=text, name=message.name)]
    return []


def _assistant(message: AIMessage, msg_id: str) -> list[Message]:
    out: list[Message] = []
    reasoning, secrets = reasoning_of(message)
    if reasoning or secrets:
        out.append(
            ReasoningMessage(
                id=reasoning_message_id(msg_id),
                content=reasoning,
                encrypted_value=secrets[-1] if secrets else None,
            )
        )
    calls = [
        ToolCall(
            id=call["id"] or "",
            function=FunctionCall(
                name=call["name"], arguments=json.dumps(call["args"], ensure_ascii=False)
            ),
        )
        for call in message.tool_calls
    ] + [
        ToolCall(
            id=bad["id"] or "",
            function=FunctionCall(name=bad["name"] or "", arguments=bad["args"] or ""),
        )
        for bad in message.invalid_tool_calls
    ]
    text = text_of(message.content)
    out.append(
        AssistantMessage(
            id=msg_id, content=text or None, tool_calls=calls or None, name=message.name
        )
    )
    return out


def _agui_content(content: str | list[Any]) -> Any:
    """Text stays text; multimodal content becomes AG-UI parts."""
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for block in content:
        part = _agui_part(block)
        if part is not None:
            parts.append(part)
    return parts


def _agui_part(block: Any) -> dict[str, Any] | None:
    if isinstance(block, str):
        return {"type": "text", "text": block}
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        return {"type": "text", "text": str(block.get("text") or "")}
    media = {value: key for key, value in _MEDIA_TYPES.items()}.get(str(kind))
    if media is None:
        return None
    mime = block.get("mime_type")
    if "base64" in block:
        source = {"type": "data", "value": block["base64"], "mimeType": mime or ""}
    elif "url" in block:
        source = {"type": "url", "value": block["url"], "mimeType": mime}
    else:
        source = {"type": "file", "value": str(block.get("file_id") or ""), "mimeType": mime}
    return {"type": media, "source": {k: v for k, v in source.items() if v is not None}}


def _json(content: Any) -> str:
    return json.dumps(content, default=str, ensure_ascii=False)


# -- AG-UI -> LangChain --------------------------------------------------------


def graph_messages(messages: Iterable[Message]) -> list[Message]:
    """The AG-UI messages a graph gets (``to_langchain_messages``): not the display-only."""
    return [m for m in messages if isinstance(m, _FOR_GRAPH)]


def text_changed(stored: BaseMessage, message: Message) -> bool:
    """Whether a user or system ``message`` is an edit of ``stored``, the graph's
    message of its id: another kind of message or another text."""
    if isinstance(message, UserMessage) and isinstance(message.content, str):
        # The common case, seen without building the LangChain message.
        return type(stored) is not HumanMessage or text_of(stored.content) != message.content
    edits = isinstance(message, UserMessage | SystemMessage | DeveloperMessage)
    converted = _to_langchain(message) if edits else None
    if converted is None:
        return False
    return type(stored) is not type(converted) or text_of(stored.content) != text_of(
        converted.content
    )


def to_langchain_messages(messages: Sequence[Message]) -> list[BaseMessage]:
    """Convert AG-UI input messages; display-only roles are skipped."""
    out: list[BaseMessage] = []
    for message in messages:
        converted = _to_langchain(message)
        if converted is not None:
            out.append(converted)
    return out


_FOR_GRAPH: Final = (UserMessage, AssistantMessage, ToolMessage, SystemMessage, DeveloperMessage)
"""What ``_to_langchain`` converts."""


def _to_langchain(message: Message) -> BaseMessage | None:
    if isinstance(message, UserMessage):
        return HumanMessage(
            id=message.id, content=_user_content(message.content), name=message.name
        )
    if isinstance(message, AssistantMessage):
        return _ai(message)
    if isinstance(message, ToolMessage):
        return LcToolMessage(
            id=message.id,
            content=_user_content(message.content),
            tool_call_id=message.tool_call_id,
            status="error" if message.error else "success",
        )
    if isinstance(message, SystemMessage):
        return LcSystemMessage(id=message.id, content=message.content, name=message.name)
    if isinstance(message, DeveloperMessage):
        return LcSystemMessage(
            id=message.id,
            content=message.content,
            name=message.name,
            additional_kwargs={_DEVELOPER_KEY: "developer"},
        )
    return None


def _ai(message: AssistantMessage) -> AIMessage:
    calls = []
    invalid = []
    for call in message.tool_calls or ():
        args = _tool_args(call.function.arguments)
        if args is not None:
            calls.append(lc_tool_call(name=call.function.name, args=args, id=call.id))
        else:
            invalid.append(
                InvalidToolCall(
                    type="invalid_tool_call",
                    name=call.function.name,
                    args=call.function.arguments,
                    id=call.id,
                    error="arguments are not a JSON object a checkpoint can store",
                )
            )
    return AIMessage(
        id=message.id,
        content=message.content or "",
        tool_calls=calls,
        invalid_tool_calls=invalid,
        name=message.name,
    )


def _tool_args(arguments: str | None) -> dict[str, Any] | None:
    """A tool call's arguments as LangChain holds them, or ``None`` (kept as an
    invalid tool call, its text as sent) when they are not a JSON object, or
    nest deeper than a body may, or hold what a checkpoint cannot store and
    give back as JSON (``unstorable``)."""
    try:
        args = from_json(arguments or "{}", allow_inf_nan=False)
    except ValueError:
        return None
    if not isinstance(args, dict) or unstorable(args) is not None:
        return None
    return args


def _user_content(content: str | Sequence[Any]) -> str | list[str | dict[str, Any]]:
    if isinstance(content, str):
        return content
    return [_part(part) for part in content]


def _part(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    kind = _MEDIA_TYPES.get(str(part.type))
    if kind is None:
        raise InputError(ErrorCode.INVALID_INPUT, f"unsupported content part {part.type!r}")
    source = part.source
    block: dict[str, Any] = {"type": kind}
    mime = getattr(source, "mime_type", None)
    if mime:
        block["mime_type"] = mime
    if source.type == "data":
        block["base64"] = source.value
    elif source.type == "url":
        block["url"] = source.value
    else:
        block["file_id"] = source.value
    if isinstance(part, ImagePart) and part.id:
        block["id"] = part.id
    return block


ABANDONED_CALL_RESULT: Final = "The tool call was cancelled before it returned a result."


def answer_abandoned_calls(
    stored: Sequence[BaseMessage], new: Sequence[BaseMessage]
) -> list[BaseMessage]:
    """``new`` with a result for every tool call the user has moved on from.

    A stopped run leaves the client a tool call with no result, and a user may
    type instead of answering a frontend tool: when a new user message follows
    such calls, each gets an error result saying it was cancelled, just before
    that message. Providers refuse a conversation with unanswered tool calls,
    so without it every later turn of the thread would fail.
    """
    open_calls = _unanswered(stored)
    out: list[BaseMessage] = []
    for message in new:
        if isinstance(message, HumanMessage) and open_calls:
            out.extend(
                LcToolMessage(
                    ABANDONED_CALL_RESULT,
                    tool_call_id=call_id,
                    name=name,
                    status="error",
                    id=f"cancelled-{call_id}",
                )
                for call_id, name in open_calls.items()
            )
            open_calls = {}
        _track(open_calls, message)
        out.append(message)
    return out


def _unanswered(messages: Sequence[BaseMessage]) -> dict[str, str]:
    """Tool calls since the last user message that no tool message answers."""
    since = len(messages)
    while since > 0 and not isinstance(messages[since - 1], HumanMessage):
        since -= 1
    open_calls: dict[str, str] = {}
    for message in messages[since:]:
        _track(open_calls, message)
    return open_calls


def _track(open_calls: dict[str, str], message: BaseMessage) -> None:
    if isinstance(message, AIMessage):
        open_calls.update((c["id"], c["name"]) for c in message.tool_calls if c["id"])
    elif isinstance(message, LcToolMessage):
        open_calls.pop(message.tool_call_id, None)
