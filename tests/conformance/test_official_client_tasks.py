"""Delegated tasks judged by the official Node client `@ag-ui/client` 1.0.

Each test serves agents, with a task engine, on a real uvicorn and runs one
scenario of tasks.mjs; every stream it reads goes through the client's own
SSE parsing and 1.0 event verification.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.pregel import Pregel

from graphwire.demo import build_demo_graph
from graphwire.server import Agent
from graphwire.tasks import MemoryTaskStore, TaskStore
from tests.conformance.harness import needs_node_client, run_scenario
from tests.server.agents import slow_agent

pytestmark = needs_node_client


def fails_once() -> Pregel[Any, Any]:
    """Fails on a thread's first run, succeeds after (a retry's continuation)."""
    tries: Counter[str] = Counter()

    def work(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        thread = config["configurable"]["thread_id"]
        tries[thread] += 1
        if tries[thread] == 1:
            raise RuntimeError("first try fails")
        return {"messages": [AIMessage("second try worked", id=f"ok-{thread}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("work", work)
    builder.add_edge(START, "work")
    return builder.compile(checkpointer=InMemorySaver())


async def scenario(name: str) -> dict[str, Any]:
    @contextlib.asynccontextmanager
    async def tasks() -> AsyncIterator[TaskStore]:
        yield MemoryTaskStore()

    agents = [
        Agent("demo", build_demo_graph().copy(update={"checkpointer": InMemorySaver()})),
        slow_agent([], steps=12, delay=0.05),
        Agent("flaky", fails_once()),
    ]
    return await run_scenario("tasks.mjs", name, agents, tasks=tasks)


async def test_started_by_the_agents_tool_then_answered_through_the_handshake() -> None:
    result = await scenario("via_tool")
    assert result["error"] is None
    types = result["startedTypes"]
    assert types.index("TOOL_CALL_END") < types.index("ACTIVITY_SNAPSHOT")
    activity = result["activity"]
    assert activity["state"] == "queued" and activity["title"] == "deploy to staging"
    assert activity["eventsUrl"].endswith(f"/tasks/{activity['taskId']}/events")
    assert result["activityMessages"] == 1  # the client keeps it as an activity message
    assert result["watchedOutcome"]["type"] == "interrupt"
    assert [p["message"] for p in result["pending"]] == ["Deploy to staging?"]
    assert result["answeredRunId"] == "handshake-run"
    assert result["answeredTypes"][0] == "RUN_STARTED"
    assert result["answeredOutcome"] == {"type": "success"}
    assert result["afterPending"] == 0
    assert (result["state"], result["result"]) == ("done", "Done: deployed to staging.")
    assert result["texts"][-1] == "Done: deployed to staging."


async def test_started_over_http_and_tailed_live() -> None:
    result = await scenario("via_http")
    assert result["status"] == 201
    created = result["created"]
    assert (created["state"], created["title"]) == ("queued", "Oslo")
    assert result["error"] is None
    assert result["outcome"] == {"type": "success"}
    assert result["runStarted"]["threadId"] == created["threadId"]
    assert result["texts"][-1] == "Done: it is sunny in Oslo."


async def test_reattach_with_last_event_id_gets_every_remaining_event_once() -> None:
    result = await scenario("reattach")
    assert result["first"] == 4 and result["rest"] > 0
    assert result["same"] is True
    assert result["outcome"] == {"type": "success"}


async def test_cancel_a_running_task() -> None:
    result = await scenario("cancel")
    assert result["error"] is None
    assert result["cancelStatus"] == 200
    assert result["outcome"] == {"type": "cancelled"}
    assert result["state"] == "cancelled"


async def test_followup_and_retry() -> None:
    result = await scenario("followup_retry")
    assert result["errors"] == [None, None, None, None]
    assert result["followupOutcome"] == {"type": "success"}
    # The follow-up's snapshot carries the whole thread: the first answer too.
    assert "Done: it is sunny in Rome." in result["followupTexts"]
    assert any(t.startswith("You said: hello") for t in result["followupTexts"])
    assert (result["failedType"], result["failedCode"]) == ("RUN_ERROR", "AGENT_ERROR")
    assert result["retryStatus"] == 200
    assert result["retryOutcome"] == {"type": "success"}
    assert result["retryState"] == "done"


async def test_board_pages_filters_and_errors() -> None:
    result = await scenario("board")
    newest_first = list(reversed(result["ids"]))
    assert result["firstPage"] == newest_first[:2]
    assert result["secondPage"] == newest_first[2:]
    assert result["secondCursor"] is None
    assert (result["done"], result["queued"]) == (3, 0)
    assert result["missing"] == {"status": 404, "code": "TASK_NOT_FOUND"}
    assert result["conflict"] == {"status": 409, "code": "TASK_DONE"}
