"""An agent for the durable run-log tests: ``count N`` streams ``N`` words,
one every 50 ms; ``forever`` streams a word every 0.2 s for ten minutes (to be
cut short); ``ask`` waits for an answer, then says what it got."""

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


class CountingModel(BaseChatModel):
    """Streams ``word 1 word 2 ...``: ``words`` of them, ``pause`` seconds apart."""

    words: int
    pause: float

    @property
    def _llm_type(self) -> str:
        return "counting"

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
            yield ChatGenerationChunk(message=AIMessageChunk(content=f"word {n} ", id="counted"))
            await asyncio.sleep(self.pause)


async def agent(state: MessagesState) -> dict[str, Any]:
    text = state["messages"][-1].text
    if text.startswith("count"):
        model = CountingModel(words=int(text.split()[1]), pause=0.05)
    elif text == "forever":
        model = CountingModel(words=3000, pause=0.2)
    else:
        answer = interrupt({"message": f"answer {text}?"})
        return {"messages": [AIMessage(f"got {answer}")]}
    return {"messages": [await model.ainvoke(state["messages"])]}


_builder = StateGraph(MessagesState)
_builder.add_node("agent", agent)
_builder.add_edge(START, "agent")
graph = _builder.compile()
