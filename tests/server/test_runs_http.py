"""AG-UI runs over HTTP/SSE against a real uvicorn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from ag_ui.core import EventType
from langgraph.checkpoint.memory import InMemorySaver

from graphwire.demo import build_demo_graph
from graphwire.server import Agent, ServerOptions
from tests.agui_checks import check_run
from tests.graphs import agent_graph
from tests.processes import serve, wait_healthy
from tests.server.agents import slow_agent
from tests.server.conftest import live_server, read_events, run_body


async def test_chat_streams_sse_with_sequence_ids(client: httpx.AsyncClient) -> None:
    async with live_server([Agent("chat", agent_graph(["Hello there", "Again"]))]) as url:
        ids, events = await read_events(client, "POST", f"{url}/agents/chat", json=run_body())
        _, single = await read_events(
            client, "POST", url + "/", json=run_body(thread="t2", run="r2")
        )
    check_run(events)
    assert ids == list(range(1, len(events) + 1))
    assert events[-1].outcome.type == "success"
    assert single[-1].type == EventType.RUN_FINISHED


async def test_bad_input_unknown_agent_and_too_large_body(client: httpx.AsyncClient) -> None:
    agents = [Agent("chat", agent_graph([]))]
    async with live_server(agents, ServerOptions(max_body_bytes=2000)) as url:
        bad_json = await client.post(
            f"{url}/agents/chat", content=b"{nope", headers={"content-type": "application/json"}
        )
        bad_shape = await client.post(f"{url}/agents/chat", json={"threadId": 1})
        unknown = await client.post(f"{url}/agents/nope", json=run_body())
        large = await client.post(f"{url}/agents/chat", json=run_body(text="x" * 5000))
    assert bad_json.status_code == 422 and bad_json.json()["code"] == "INVALID_INPUT"
    assert bad_shape.status_code == 422
    assert {d["loc"][0] for d in bad_shape.json()["details"]} >= {"threadId", "runId"}
    assert unknown.status_code == 404 and unknown.json()["code"] == "AGENT_NOT_FOUND"
    assert large.status_code == 413 and large.json()["code"] == "BODY_TOO_LARGE"


async def running_slow_run(client: httpx.AsyncClient, url: str) -> asyncio.Task[Any]:
    """Start run r1 on thread t1 of the slow agent and let it get going."""
    task = asyncio.create_task(read_events(client, "POST", f"{url}/agents/slow", json=run_body()))
    await asyncio.sleep(0.3)
    return task


async def test_second_run_on_a_busy_thread_is_refused(client: httpx.AsyncClient) -> None:
    finished: list[str] = []
    async with live_server([slow_agent(finished)]) as url:
        first = await running_slow_run(client, url)
        busy = await client.post(f"{url}/agents/slow", json=run_body(run="r2"))
        other = await read_events(
            client, "POST", f"{url}/agents/slow", json=run_body(thread="t9", run="r9")
        )
        _, events = await first
    assert busy.status_code == 409 and busy.json()["code"] == "THREAD_BUSY"
    check_run(events)
    check_run(other[1])


async def test_cancel_route_stops_the_graph(client: httpx.AsyncClient) -> None:
    finished: list[str] = []
    async with live_server([slow_agent(finished)]) as url:
        stream = await running_slow_run(client, url)
        cancelled = await client.post(f"{url}/runs/r1/cancel")
        _, events = await stream
        again = await client.post(f"{url}/runs/r1/cancel")
        unknown = await client.post(f"{url}/runs/nope/cancel")
        await asyncio.sleep(2.5)
        after = await read_events(
            client, "POST", f"{url}/agents/slow", json=run_body(run="r2"), limit=3
        )
    assert cancelled.status_code == 202
    check_run(events)
    assert events[-1].outcome.type == "cancelled"
    assert finished == []
    assert again.status_code == 409 and again.json()["code"] == "RUN_ENDED"
    assert unknown.status_code == 404 and unknown.json()["code"] == "RUN_NOT_FOUND"
    assert after[1][0].type == EventType.RUN_STARTED


async def test_dropped_connection_cancels_by_default(client: httpx.AsyncClient) -> None:
    finished: list[str] = []
    async with live_server([slow_agent(finished)]) as url:
        _, seen = await read_events(client, "POST", f"{url}/agents/slow", json=run_body(), limit=4)
        await asyncio.sleep(0.3)
        _, log = await read_events(client, "GET", f"{url}/runs/r1/events")
        new_run = await read_events(
            client, "POST", f"{url}/agents/slow", json=run_body(run="r2"), limit=2
        )
    check_run(log)
    assert log[:4] == seen
    assert log[-1].outcome.type == "cancelled"
    assert finished == []
    assert new_run[1][0].type == EventType.RUN_STARTED


async def test_continue_mode_reattach_gets_every_remaining_event_once(
    client: httpx.AsyncClient,
) -> None:
    finished: list[str] = []
    body = run_body(forwardedProps={"graphwire": {"onDisconnect": "continue"}})
    async with live_server([slow_agent(finished, steps=20)]) as url:
        first_ids, first = await read_events(
            client, "POST", f"{url}/agents/slow", json=body, limit=5
        )
        await asyncio.sleep(0.2)
        rest_ids, rest = await read_events(
            client, "GET", f"{url}/runs/r1/events", headers={"Last-Event-ID": str(first_ids[-1])}
        )
        replay_ids, _ = await read_events(client, "GET", f"{url}/runs/r1/events?lastEventId=3")
    assert rest_ids == list(range(first_ids[-1] + 1, first_ids[-1] + 1 + len(rest)))
    check_run(first + rest)
    assert rest[-1].outcome.type == "success" and finished == ["done"]
    assert replay_ids[0] == 4 and replay_ids[-1] == rest_ids[-1]


async def test_keepalive_comments_flow_on_quiet_streams(client: httpx.AsyncClient) -> None:
    finished: list[str] = []
    agents = [slow_agent(finished, steps=3, delay=0.4)]
    async with (
        live_server(agents, ServerOptions(keepalive_seconds=0.1)) as url,
        client.stream("POST", f"{url}/agents/slow", json=run_body()) as response,
    ):
        raw = (await response.aread()).decode()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert raw.count(": keepalive\n\n") >= 3
    assert raw.rstrip().endswith("}")


async def test_eight_concurrent_runs_do_not_mix(client: httpx.AsyncClient) -> None:
    agents = [Agent("chat", agent_graph([f"Answer number {i}" for i in range(8)]))]
    async with live_server(agents) as url:
        results = await asyncio.gather(
            *[
                read_events(
                    client, "POST", f"{url}/agents/chat", json=run_body(thread=f"t{i}", run=f"r{i}")
                )
                for i in range(8)
            ]
        )
    texts = set()
    for index, (_, events) in enumerate(results):
        check_run(events)
        assert {e.run_id for e in (events[0], events[-1])} == {f"r{index}"}
        text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
        texts.add(text)
    assert texts == {f"Answer number {i}" for i in range(8)}


async def test_thread_route_recovers_a_pending_interrupt(client: httpx.AsyncClient) -> None:
    agents = [Agent("demo", build_demo_graph().copy(update={"checkpointer": InMemorySaver()}))]
    async with live_server(agents) as url:
        _, events = await read_events(
            client, "POST", f"{url}/agents/demo", json=run_body(text="deploy to staging")
        )
        thread = (await client.get(f"{url}/agents/demo/threads/t1")).json()
        listing = (await client.get(f"{url}/agents")).json()
    [interrupt] = events[-1].outcome.interrupts
    assert [i["id"] for i in thread["interrupts"]] == [interrupt.id]
    assert thread["interrupts"][0]["message"] == "Deploy to staging?"
    assert thread["messages"][0]["content"] == "deploy to staging"
    assert thread["state"] == {"turns": 1, "last_tool": "deploy"}
    assert listing["agents"][0]["name"] == "demo"
    assert listing["agents"][0]["capabilities"]["humanInTheLoop"]["interrupts"] is True


async def test_shutdown_stops_streaming_runs_instead_of_waiting(
    client: httpx.AsyncClient,
) -> None:
    finished: list[str] = []
    body = run_body(forwardedProps={"graphwire": {"onDisconnect": "continue"}})
    loop = asyncio.get_running_loop()
    async with live_server([slow_agent(finished, steps=200)]) as url:
        stream = asyncio.create_task(read_events(client, "POST", f"{url}/agents/slow", json=body))
        await asyncio.sleep(0.3)
        stopping = loop.time()
    _, events = await stream
    assert loop.time() - stopping < 5
    assert events[-1].outcome.type == "cancelled" and finished == []


ECHO = """
from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph


def echo(state: MessagesState) -> dict:
    return {"messages": [AIMessage(content="echo")]}


builder = StateGraph(MessagesState)
builder.add_node("echo", echo)
builder.add_edge(START, "echo")
graph = builder.compile()
"""


async def test_a_thread_of_one_agent_is_refused_to_another_sharing_the_store(
    tmp_path: Path,
) -> None:
    """CopilotKit sends one explicit threadId to every agent of a page; on one
    SQLite store the second graph's run wrote over the first one's state."""
    (tmp_path / "echo.py").write_text(ECHO)
    process, url = serve(["demo=graphwire.demo:graph", "echo=echo.py:graph"], tmp_path)
    try:
        await wait_healthy(url)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            _, asked = await read_events(
                client, "POST", "/agents/demo", json=run_body(thread="x", text="deploy to staging")
            )
            before = (await client.get("/agents/demo/threads/x")).json()
            _, other = await read_events(
                client, "POST", "/agents/echo", json=run_body(thread="x", run="r2")
            )
            read_by_other = await client.get("/agents/echo/threads/x")
            after = (await client.get("/agents/demo/threads/x")).json()
            _, own = await read_events(
                client, "POST", "/agents/echo", json=run_body(thread="y", run="r3")
            )
    finally:
        process.terminate()
        process.communicate(timeout=30)
    # Renamed, the agent finds its threads: an owner no longer served hands them on.
    process, url = serve(["assistant=graphwire.demo:graph", "echo=echo.py:graph"], tmp_path)
    try:
        await wait_healthy(url)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            renamed = await client.get("/agents/assistant/threads/x")
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert asked[-1].outcome.type == "interrupt" and before["interrupts"]
    assert renamed.status_code == 200
    assert renamed.json()["interrupts"] == before["interrupts"]
    assert other[-1].type == "RUN_ERROR" and other[-1].code == "THREAD_OF_ANOTHER_AGENT"
    assert read_by_other.status_code == 409
    assert read_by_other.json()["code"] == "THREAD_OF_ANOTHER_AGENT"
    assert after == before  # the interrupt and the state are still there
    assert own[-1].type == "RUN_FINISHED"
