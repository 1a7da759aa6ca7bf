"""An agent for the terminal chat's tests (and the durable run logs'):
``slow`` streams a word every 0.3 s for a minute (to be stopped), ``count N``
streams N words 50 ms apart, ``deploy`` asks for approval with a
responseSchema (``deploy ... slowly`` then streams slowly too), anything else
is answered at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import interrupt

SLOW_WORDS = 200
SLOW_SECONDS = 0.3


class SlowModel(BaseChatModel):
    """Streams ``word 1 word 2 ...``: ``words`` of them, ``pause`` seconds apart."""

    words: int = SLOW_WORDS
    pause: float = SLOW_SECONDS

    @property
    def _llm_type(self) -> str:
        return "slow"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        raise NotImplementedError("stream it")

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for n in range(1, self.words + 1):
            yield ChatGenerationChunk(message=AIMessageChunk(content=f"word {n} ", id="slow"))
            await asyncio.sleep(self.pause)


async def agent(state: MessagesState) -> dict[str, Any]:
    text = state["messages"][-1].text
    if text == "slow":
        reply = await SlowModel().ainvoke(state["messages"])
        return {"messages": [reply]}
    if text.startswith("count "):
        counted = SlowModel(words=int(text.split()[1]), pause=0.05)
        return {"messages": [await counted.ainvoke(state["messages"])]}
    if text.startswith("deploy"):
        answer = interrupt(
            {
                "message": "Ship it?",
                "responseSchema": {
                    "type": "object",
                    "properties": {"approved": {"type": "boolean"}, "note": {"type": "string"}},
                },
            }
        )
        if text.endswith("slowly"):  # approved, then slow to report
            return {"messages": [await SlowModel().ainvoke(state["messages"])]}
        return {"messages": [AIMessage(f"deploy answer: {answer}")]}
    return {"messages": [AIMessage(f"echo: {text}")]}


builder = StateGraph(MessagesState)
builder.add_node("agent", agent)
builder.add_edge(START, "agent")
graph = builder.compile()
