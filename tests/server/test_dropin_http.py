"""CopilotKit's ways over HTTP: a resume under the interrupted run's runId, the
legacy interrupt channel, clients from before AG-UI 1.0."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphwire.demo import build_demo_graph
from graphwire.server import Agent, ServerOptions
from tests.agui_checks import check_run
from tests.server.agents import slow_agent
from tests.server.conftest import live_server, read_events, run_body


def demo() -> Agent:
    return Agent("demo", build_demo_graph().copy(update={"checkpointer": InMemorySaver()}))


def approve(interrupt_id: str, **extra: Any) -> dict[str, Any]:
    resume = [{"interruptId": interrupt_id, "status": "resolved", "payload": {"approved": True}}]
    asked = [{"id": "u-r1", "role": "user", "content": "deploy to staging"}]  # the first run's
    return run_body(resume=resume, messages=asked, **extra)


async def test_a_resume_under_the_interrupted_runs_id_continues_its_log(
    client: httpx.AsyncClient,
) -> None:
    async with live_server([demo()]) as url:
        first_ids, first = await read_events(
            client, "POST", f"{url}/agents/demo", json=run_body(text="deploy to staging")
        )
        [interrupt] = first[-1].outcome.interrupts
        ids, resumed = await read_events(
            client, "POST", f"{url}/agents/demo", json=approve(interrupt.id)
        )
        replay_ids, replay = await read_events(client, "GET", f"{url}/runs/r1/events")
        again = await client.post(f"{url}/agents/demo", json=approve(interrupt.id))
        cancel = await client.post(f"{url}/runs/r1/cancel")
    check_run(first)
    check_run(resumed)
    assert resumed[0].run_id == "r1" and resumed[-1].outcome.type == "success"
    # The resumed run's events follow the interrupted run's in one log, numbered on.
    assert ids == list(range(len(first) + 1, len(first) + len(resumed) + 1))
    assert replay_ids == first_ids + ids
    assert [e.type for e in replay] == [e.type for e in [*first, *resumed]]
    # Once the run ended without an interrupt, its id is taken for good.
    assert again.status_code == 409 and again.json()["code"] == "RUN_EXISTS"
    assert cancel.status_code == 409 and cancel.json()["code"] == "RUN_ENDED"


async def test_a_run_id_reused_for_anything_else_is_refused(client: httpx.AsyncClient) -> None:
    async with live_server([demo(), slow_agent([], steps=2, delay=0.01)]) as url:
        _, first = await read_events(
            client, "POST", f"{url}/agents/demo", json=run_body(text="deploy to staging")
        )
        [interrupt] = first[-1].outcome.interrupts
        no_resume = await client.post(f"{url}/agents/demo", json=run_body(text="hello"))
        other_thread = await client.post(
            f"{url}/agents/demo", json=approve(interrupt.id, thread="t2")
        )
        _, done = await read_events(
            client, "POST", f"{url}/agents/slow", json=run_body(thread="s", run="s1")
        )
        finished_run = await client.post(
            f"{url}/agents/slow", json=run_body(thread="s", run="s1", resume=[])
        )
        # A newer run on the thread answered the interrupt: the old id stays used.
        _, newer = await read_events(
            client, "POST", f"{url}/agents/demo", json=approve(interrupt.id, run="r2")
        )
        stale = await client.post(f"{url}/agents/demo", json=approve(interrupt.id))
    for refused in (no_resume, other_thread, finished_run, stale):
        assert refused.status_code == 409 and refused.json()["code"] == "RUN_EXISTS"
    assert done[-1].type == "RUN_FINISHED" and newer[-1].outcome.type == "success"


async def test_a_legacy_resume_under_the_same_run_id(client: httpx.AsyncClient) -> None:
    options = ServerOptions(interrupt_channel="legacy")
    async with live_server([demo()], options) as url:
        _, first = await read_events(
            client, "POST", f"{url}/agents/demo", json=run_body(text="deploy to staging")
        )
        [event] = [e for e in first if e.type == "CUSTOM" and e.name == "on_interrupt"]
        props = {"command": {"resume": {"approved": True}, "interruptEvent": event.value}}
        _, resumed = await read_events(
            client,
            "POST",
            f"{url}/agents/demo",
            json=run_body(text="deploy to staging", forwardedProps=props),
        )
    assert first[-1].outcome.type == "success"
    assert json.loads(event.value)["message"] == "Deploy to staging?"
    assert resumed[0].run_id == "r1" and resumed[-1].outcome.type == "success"
    assert any(e.type == "TOOL_CALL_RESULT" and "deployed" in e.content for e in resumed)


@pytest.mark.parametrize("declared", [True, False])
async def test_clients_before_1_0_get_outcomes_they_accept(
    client: httpx.AsyncClient, declared: bool
) -> None:
    async with live_server([slow_agent([], steps=40, delay=0.05)]) as url:
        body = run_body(thread="s", run="s1")
        if not declared:
            del body["protocolVersion"]
        async with client.stream("POST", f"{url}/agents/slow", json=body) as response:
            cancel = await client.post(f"{url}/runs/s1/cancel")
            lines = [line async for line in response.aiter_lines() if line.startswith("data:")]
    finished = json.loads(lines[-1][len("data:") :])
    assert cancel.status_code == 202 and finished["type"] == "RUN_FINISHED"
    if declared:
        assert finished["outcome"] == {"type": "cancelled"}
    else:
        assert "outcome" not in finished


async def test_the_thread_route_shows_a_pause_at_a_breakpoint(client: httpx.AsyncClient) -> None:
    graph = build_demo_graph().copy(
        update={"checkpointer": InMemorySaver(), "interrupt_before_nodes": ["tools"]}
    )
    async with live_server([Agent("demo", graph)]) as url:
        _, events = await read_events(
            client, "POST", f"{url}/agents/demo", json=run_body(text="weather in Paris")
        )
        thread = (await client.get(f"{url}/agents/demo/threads/t1")).json()
        [paused] = events[-1].outcome.interrupts
        resume = [{"interruptId": paused.id, "status": "resolved"}]
        _, resumed = await read_events(
            client,
            "POST",
            f"{url}/agents/demo",
            json=run_body(text="weather in Paris", resume=resume),
        )
    assert [i["id"] for i in thread["interrupts"]] == [paused.id]
    assert thread["interrupts"][0]["reason"] == "breakpoint"
    check_run(resumed)
    assert any(e.type == "TOOL_CALL_RESULT" and "sunny" in e.content for e in resumed)


async def test_a_refused_resume_under_the_same_run_id_can_be_tried_again(
    client: httpx.AsyncClient,
) -> None:
    other = Agent("other", build_demo_graph().copy(update={"checkpointer": InMemorySaver()}))
    async with live_server([demo(), other]) as url:
        _, first = await read_events(
            client, "POST", f"{url}/agents/demo", json=run_body(text="deploy to staging")
        )
        [interrupt] = first[-1].outcome.interrupts
        _, wrong = await read_events(client, "POST", f"{url}/agents/demo", json=approve("stale"))
        elsewhere = await client.post(f"{url}/agents/other", json=approve(interrupt.id))
        _, retried = await read_events(
            client, "POST", f"{url}/agents/demo", json=approve(interrupt.id)
        )
    assert wrong[-1].type == "RUN_ERROR" and wrong[-1].code == "UNKNOWN_INTERRUPT"
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "RUN_EXISTS"
    assert retried[-1].outcome.type == "success"
