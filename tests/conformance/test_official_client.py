"""The official Node client `@ag-ui/client` 1.0 is the referee of wire correctness.

Each test serves agents on a real uvicorn and runs one scenario of client.mjs,
whose HttpAgent verifies every event against the 1.0 rules.
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.pregel import Pregel

from graphwire import bind_frontend_tools
from graphwire.demo import build_demo_graph
from graphwire.server import Agent
from graphwire.testing import ScriptedChatModel
from tests.conformance.harness import needs_node_client, run_scenario
from tests.server.agents import slow_agent

pytestmark = needs_node_client


class FrontendModel(ScriptedChatModel):
    def reply(self, messages: list[BaseMessage]) -> AIMessage | str:
        msg_id = f"fe-{uuid.uuid4().hex[:8]}"
        if isinstance(messages[-1], ToolMessage):
            return AIMessage(id=msg_id, content=f"You chose {messages[-1].text}.")
        call = {"name": "confirm_color", "args": {}, "id": f"call-{msg_id}", "type": "tool_call"}
        return AIMessage(id=msg_id, content="", tool_calls=[call])


class BrokenModel(ScriptedChatModel):
    def reply(self, messages: list[BaseMessage]) -> AIMessage | str:
        if "before" in messages[-1].text:
            raise RuntimeError("provider down")
        return AIMessage(id=f"b-{uuid.uuid4().hex[:8]}", content="one two three four")


def one_node(model: ScriptedChatModel, frontend: bool = False) -> Pregel[Any, Any]:
    def agent(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        runnable = bind_frontend_tools(model, config) if frontend else model
        return {"messages": [runnable.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    return builder.compile(checkpointer=InMemorySaver())


def agents() -> list[Agent]:
    return [
        Agent("demo", build_demo_graph().copy(update={"checkpointer": InMemorySaver()})),
        Agent("frontend", one_node(FrontendModel(), frontend=True)),
        Agent("broken", one_node(BrokenModel(fail_after_tokens=2))),
        slow_agent([], steps=12, delay=0.05),
    ]


async def scenario(name: str) -> dict[str, Any]:
    return await run_scenario("client.mjs", name, agents())


async def test_chat() -> None:
    result = await scenario("chat")
    assert result["error"] is None
    assert result["outcome"] == {"type": "success"}
    assert result["texts"][-1].startswith("You said: hello there")
    assert result["types"][0] == "RUN_STARTED" and "REASONING_START" in result["types"]


async def test_backend_tool() -> None:
    result = await scenario("backend_tool")
    assert result["error"] is None
    assert result["toolMessages"] == ["it is sunny in Paris"]
    assert result["texts"][-1] == "Done: it is sunny in Paris."


async def test_frontend_tool_left_pending_then_answered() -> None:
    result = await scenario("frontend_tool")
    assert result["error"] is None
    assert len(result["pending"]) == 1
    assert result["outcome"] == {"type": "success"}
    assert result["texts"][-1] == "You chose blue."


async def test_interrupt_outcome_resumed_through_the_client() -> None:
    result = await scenario("interrupt")
    assert result["error"] is None
    assert result["firstOutcome"] == "interrupt"
    [pending] = result["pending"]
    assert pending["message"] == "Deploy to staging?" and pending["toolCallId"]
    assert result["secondOutcome"] == {"type": "success"}
    assert result["afterPending"] == 0
    assert result["toolMessages"] == ["deployed to staging"]


async def test_errors_before_and_in_the_middle_of_a_message() -> None:
    result = await scenario("errors")
    before, mid = result["before"], result["mid"]
    assert before["types"][-1] == "RUN_ERROR" and before["code"] == "AGENT_ERROR"
    assert "TEXT_MESSAGE_START" not in before["types"]
    assert mid["types"][-1] == "RUN_ERROR" and mid["code"] == "AGENT_ERROR"
    assert mid["texts"] == ["one "]  # the two tokens ("one", " ") streamed before the failure
    assert mid["types"].index("TEXT_MESSAGE_END") < mid["types"].index("RUN_ERROR")


async def test_cancel_route() -> None:
    result = await scenario("cancel_route")
    assert result["error"] is None
    assert result["cancelStatus"] == 202
    assert result["outcome"] == {"type": "cancelled"}


async def test_dropped_default_connection_cancels_its_run() -> None:
    result = await scenario("drop_default")
    assert result["outcome"] == {"type": "cancelled"}
    assert result["logTypes"][0] == "RUN_STARTED" and result["logTypes"][-1] == "RUN_FINISHED"
    assert result["nextStarted"] == "RUN_STARTED"


async def test_dropped_continue_connection_reattaches_without_loss() -> None:
    result = await scenario("drop_continue")
    assert result["rest"] > 0
    assert result["joinedError"] is None
    assert result["same"] is True
    assert result["outcome"] == {"type": "success"}


async def test_eight_concurrent_runs_do_not_mix() -> None:
    result = await scenario("concurrent")
    for index, run in enumerate(result["results"]):
        assert run["error"] is None
        assert len(run["runIds"]) == 1
        assert f"message number {index}" in run["text"]


async def test_thread_busy() -> None:
    result = await scenario("thread_busy")
    assert result["firstOutcome"] == {"type": "success"}
    assert "409" in result["secondError"]
    assert result["secondEvents"] == 0
