"""The agent the crash test serves: it streams slowly, so a kill lands mid-run.

Loaded by a real ``graphwire serve`` process from this file's path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langgraph.graph import START, MessagesState, StateGraph

from graphwire.testing import ScriptedChatModel


class SlowModel(ScriptedChatModel):
    def reply(self, messages: list[BaseMessage]) -> AIMessage | str:
        return "finished " + " ".join(["step"] * 12)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for chunk in super()._stream(*args, **kwargs):
            time.sleep(0.03)
            yield chunk


_model = SlowModel()


def _agent(state: MessagesState) -> dict[str, Any]:
    return {"messages": [_model.invoke(state["messages"])]}


_builder = StateGraph(MessagesState)
_builder.add_node("agent", _agent)
_builder.add_edge(START, "agent")
graph = _builder.compile()
