"""Reading LangChain message content: text, reasoning and provider signatures.

Providers put reasoning in different places; this module is the one place that
knows them all (docs/adr/0002-event-mapping.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.messages import BaseMessage

_REASONING_TYPES = frozenset({"reasoning", "thinking"})
_ENCRYPTED_KEYS = ("signature", "encrypted_content", "data")


def text_of(content: Any) -> str:
    """The plain text of a message's content (a str or a list of blocks)."""
    if isinstance(content, str):
        return content
    return "".join(_block_texts(content))


def _block_texts(content: Any) -> Iterator[str]:
    for block in content or ():
        if isinstance(block, str):
            yield block
        elif isinstance(block, dict) and block.get("type") == "text":
            yield str(block.get("text") or "")


def reasoning_of(message: BaseMessage) -> tuple[str, list[str]]:
    """The reasoning text and the opaque provider values (signatures) of a message."""
    parts: list[str] = []
    secrets: list[str] = []
    kwarg = message.additional_kwargs.get("reasoning_content")
    if isinstance(kwarg, str):
        parts.append(kwarg)
    content = message.content
    if not isinstance(content, str):
        for block in content:
            if isinstance(block, dict):
                _read_reasoning_block(block, parts, secrets)
    return "".join(parts), secrets


def _read_reasoning_block(block: dict[str, Any], parts: list[str], secrets: list[str]) -> None:
    kind = block.get("type")
    if kind == "redacted_thinking" and isinstance(block.get("data"), str):
        secrets.append(block["data"])
        return
    if kind not in _REASONING_TYPES:
        return
    text = block.get(kind)
    if isinstance(text, str):
        parts.append(text)
    for summary in block.get("summary") or ():
        if isinstance(summary, dict) and isinstance(summary.get("text"), str):
            parts.append(summary["text"])
    raw_extras = block.get("extras")
    extras: dict[str, Any] = raw_extras if isinstance(raw_extras, dict) else {}
    for source in (block, extras):
        for key in _ENCRYPTED_KEYS:
            value = source.get(key)
            if isinstance(value, str) and value and key != kind:
                secrets.append(value)
