"""A scripted chat model: replays prepared AI messages, token by token.

It streams the way real provider integrations do (text tokens, reasoning
deltas, tool-call chunks split by index, usage on the last chunk), so tests and
the keyless demo exercise the same code paths a real model would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

_TOKEN = re.compile(r"(\s)")


def _pieces(text: str) -> list[str]:
    return [piece for piece in _TOKEN.split(text) if piece]


def _arg_pieces(args: dict[str, Any], size: int = 8) -> list[str]:
    text = json.dumps(args)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class ScriptedChatModel(BaseChatModel):
    """Answers each call with the next scripted message (a str or AIMessage).

    Set ``disable_streaming=True`` to behave like a model that only returns
    whole messages. Raise from the script by putting an exception in it.
    """

    script: list[Any] = Field(default_factory=list)
    """Each call takes the next item: an AIMessage, a str, or an Exception to raise."""
    fail_after_tokens: int | None = None
    """Raise mid-stream after this many text tokens (tests an error mid-message)."""

    _cursor: int = PrivateAttr(default=0)
    _calls: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "graphwire-scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Accept any tools: the script already says which ones get called."""
        return self

    def reply(self, messages: list[BaseMessage]) -> AIMessage | str:
        """The next answer; subclasses may compute it from the conversation."""
        if self._cursor >= len(self.script):
            raise IndexError("ScriptedChatModel script is exhausted")
        item = self.script[self._cursor]
        self._cursor += 1
        if isinstance(item, Exception):
            raise item
        return item  # type: ignore[no-any-return]

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        item = self.reply(messages)
        self._calls += 1
        message = AIMessage(content=item) if isinstance(item, str) else item.model_copy()
        if message.id is None:
            message.id = f"ai-{self._calls}"
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages)
        for chunk in _chunks(message, self.fail_after_tokens):
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


def _chunks(message: AIMessage, fail_after: int | None) -> Iterator[ChatGenerationChunk]:
    msg_id = message.id
    reasoning = message.additional_kwargs.get("reasoning_content")
    if isinstance(reasoning, str):
        for piece in _pieces(reasoning):
            yield _chunk(msg_id, additional_kwargs={"reasoning_content": piece})
    yield from _content_chunks(msg_id, message.content, fail_after)
    yield from _tool_call_chunks(msg_id, message)
    yield _chunk(
        msg_id,
        usage_metadata=message.usage_metadata,
        response_metadata=message.response_metadata,
        chunk_position="last",
    )


def _content_chunks(
    msg_id: str | None, content: str | list[Any], fail_after: int | None
) -> Iterator[ChatGenerationChunk]:
    if isinstance(content, str):
        for count, piece in enumerate(_pieces(content)):
            if fail_after is not None and count >= fail_after:
                raise RuntimeError("scripted model failed mid-stream")
            yield _chunk(msg_id, content=piece)
        return
    for index, block in enumerate(content):
        yield from _block_chunks(msg_id, index, block)


def _block_chunks(msg_id: str | None, index: int, block: Any) -> Iterator[ChatGenerationChunk]:
    if not isinstance(block, dict):
        yield _chunk(msg_id, content=[{"type": "text", "text": str(block), "index": index}])
        return
    kind = block.get("type")
    field = {"text": "text", "reasoning": "reasoning", "thinking": "thinking"}.get(str(kind))
    if field is None or not isinstance(block.get(field), str):
        yield _chunk(msg_id, content=[{**block, "index": index}])
        return
    extras = {k: v for k, v in block.items() if k not in ("type", field)}
    for piece in _pieces(block[field]):
        yield _chunk(msg_id, content=[{"type": kind, field: piece, "index": index}])
    if extras:
        yield _chunk(msg_id, content=[{"type": kind, field: "", **extras, "index": index}])


def _tool_call_chunks(msg_id: str | None, message: AIMessage) -> Iterator[ChatGenerationChunk]:
    """Interleave the calls' argument pieces, as parallel tool calls stream."""
    pieces = [_arg_pieces(call["args"]) for call in message.tool_calls]
    longest = max((len(p) for p in pieces), default=0)
    for step in range(longest):
        for index, call in enumerate(message.tool_calls):
            if step >= len(pieces[index]):
                continue
            first = step == 0
            chunk = tool_call_chunk(
                name=call["name"] if first else None,
                args=pieces[index][step],
                id=call["id"] if first else None,
                index=index,
            )
            yield _chunk(msg_id, tool_call_chunks=[chunk])


def _chunk(msg_id: str | None, **fields: Any) -> ChatGenerationChunk:
    fields.setdefault("content", "")
    return ChatGenerationChunk(message=AIMessageChunk(id=msg_id, **fields))
