"""The demo's keyless model: a scripted fake that answers from the conversation."""

from __future__ import annotations

import re
import uuid

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from graphwire.testing import ScriptedChatModel

_WEATHER = re.compile(r"weather (?:in|for) ([A-Za-z ]+)", re.IGNORECASE)
_DEPLOY = re.compile(r"\bdeploy(?: to)? ([A-Za-z0-9_-]+)", re.IGNORECASE)
_BACKGROUND = re.compile(r"\s*\bin the background\b[.!]?\s*", re.IGNORECASE)


class DemoChatModel(ScriptedChatModel):
    """Streams reasoning and text, calls the demo's tools, never needs a key."""

    def reply(self, messages: list[BaseMessage]) -> AIMessage | str:
        last = messages[-1] if messages else HumanMessage("")
        msg_id = f"demo-{uuid.uuid4().hex[:12]}"
        if isinstance(last, ToolMessage):
            return AIMessage(id=msg_id, content=f"Done: {last.text}.")
        text = last.text
        if _BACKGROUND.search(text):
            return _tool_reply(
                msg_id,
                "start_async_task",
                {"description": _BACKGROUND.sub(" ", text).strip()},
                "This can run on its own; I will delegate it to a background copy of me.",
            )
        if match := _WEATHER.search(text):
            return _tool_reply(
                msg_id,
                "get_weather",
                {"city": match.group(1).strip()},
                "The user wants the weather; I will look it up.",
            )
        if match := _DEPLOY.search(text):
            return _tool_reply(
                msg_id,
                "deploy",
                {"target": match.group(1)},
                "Deploying is risky; the tool asks a human first.",
            )
        return AIMessage(
            id=msg_id,
            content=(
                f"You said: {text}. Try 'weather in Paris', 'deploy to staging', "
                "or 'deploy to staging in the background'."
            ),
            additional_kwargs={"reasoning_content": "A plain message; I echo it."},
        )


def _tool_reply(msg_id: str, name: str, args: dict[str, str], thought: str) -> AIMessage:
    call_id = f"call-{uuid.uuid4().hex[:12]}"
    return AIMessage(
        id=msg_id,
        content="",
        tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}],
        additional_kwargs={"reasoning_content": thought},
    )
