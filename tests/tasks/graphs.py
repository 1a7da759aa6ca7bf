"""Fake-model graphs for the task engine tests, and a reader of task logs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ag_ui.core import BaseEvent, EventType, RunStartedEvent
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.pregel import Pregel
from langgraph.types import interrupt

from graphwire.tasks import TaskStore
from graphwire.testing import ScriptedChatModel
from tests.agui_checks import EVENT, check_run


class EchoModel(ScriptedChatModel):
    """Answers with how many user turns it has seen and what they said."""

    def reply(self, messages: list[BaseMessage]) -> AIMessage | str:
        said = [str(m.content) for m in messages if m.type == "human"]
        return f"turn {len(said)}: " + " / ".join(said)


def chat_graph(model: ScriptedChatModel | None = None) -> Pregel[Any, Any]:
    """One model call per run; counts runs per thread in ``graph.calls``."""
    chat = model or EchoModel()
    calls: Counter[str] = Counter()

    def agent(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        calls[config["configurable"]["thread_id"]] += 1
        return {"messages": [chat.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    graph = builder.compile(checkpointer=InMemorySaver())
    graph.calls = calls  # type: ignore[attr-defined]
    return graph


@dataclass
class Flaky:
    """A prepare -> work graph whose work step fails while ``failing`` is set."""

    failing: bool = True
    prepared: Counter[str] = field(default_factory=Counter)

    def graph(self) -> Pregel[Any, Any]:
        def prepare(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
            self.prepared[config["configurable"]["thread_id"]] += 1
            return {"messages": [AIMessage("prepared", id="prep")]}

        def work(state: MessagesState) -> dict[str, Any]:
            if self.failing:
                raise RuntimeError("the work step broke")
            return {"messages": [AIMessage("worked", id="work")]}

        builder = StateGraph(MessagesState)
        builder.add_node("prepare", prepare)
        builder.add_node("work", work)
        builder.add_edge(START, "prepare")
        builder.add_edge("prepare", "work")
        builder.add_edge("work", END)
        return builder.compile(checkpointer=InMemorySaver())


def review_graph() -> Pregel[Any, Any]:
    """Asks for approval with interrupt(), then reports the answer."""

    def ask(state: MessagesState) -> dict[str, Any]:
        answer = interrupt({"question": "ship it?"})
        return {"messages": [AIMessage(f"approved: {answer}", id="after-review")]}

    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    return builder.compile(checkpointer=InMemorySaver())


@dataclass
class Slow:
    """A node that waits until released; records starts, cancellations, overlap."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: int = 0
    running: int = 0
    most_at_once: int = 0

    def graph(self) -> Pregel[Any, Any]:
        async def wait(state: MessagesState) -> dict[str, Any]:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.started.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            finally:
                self.running -= 1
            return {"messages": [AIMessage("released", id="slow-done")]}

        builder = StateGraph(MessagesState)
        builder.add_node("wait", wait)
        builder.add_edge(START, "wait")
        return builder.compile(checkpointer=InMemorySaver())


async def logged_runs(store: TaskStore, task_id: str) -> list[list[BaseEvent]]:
    """The task's log split into runs; checks seqs are 1..n and every run is valid AG-UI."""
    log = await store.read_events(task_id)
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    runs: list[list[BaseEvent]] = []
    for entry in log:
        event = EVENT.validate_json(entry.frame)
        if event.type == EventType.RUN_STARTED:
            assert isinstance(event, RunStartedEvent)
            assert event.run_id == entry.run_id
            runs.append([])
        runs[-1].append(event)
    for run in runs:
        check_run(run)
    return runs


def kinds(events: Sequence[BaseEvent]) -> list[str]:
    return [str(e.type.value) for e in events]
