"""Hostile input over HTTP: Last-Event-ID values, ids that would break a header
or a log, bodies a browser sends cross-site without asking."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphwire.demo import build_demo_graph
from graphwire.server import Agent, ServerOptions
from tests.graphs import agent_graph
from tests.server.conftest import live_server, read_events, run_body
from tests.server.test_tasks_http import serve
from tests.tasks.graphs import chat_graph

BAD_EVENT_IDS = ["-1", "-1000000000000", "abc", "1.5", "9223372036854775808", "１２", "1e3"]


@pytest.mark.parametrize("value", BAD_EVENT_IDS)
async def test_only_a_whole_number_in_range_is_a_last_event_id(
    client: httpx.AsyncClient, value: str
) -> None:
    async with live_server([Agent("chat", agent_graph(["Hello there"]))]) as url:
        ids, _ = await read_events(client, "POST", f"{url}/agents/chat", json=run_body())
        header = await client.get(
            f"{url}/runs/r1/events", headers={"Last-Event-ID": value.encode()}
        )
        query = await client.get(f"{url}/runs/r1/events", params={"lastEventId": value})
        _, replay = await read_events(
            client, "GET", f"{url}/runs/r1/events", headers={"Last-Event-ID": "3"}
        )
        health = await client.get(f"{url}/healthz")
    for refused in (header, query):
        assert refused.status_code == 400 and refused.json()["code"] == "INVALID_LAST_EVENT_ID"
    assert len(replay) == len(ids) - 3 and health.status_code == 200


@pytest.mark.parametrize("value", ["-5", "99999999999999999999999"])
async def test_a_task_stream_refuses_a_bad_last_event_id(value: str) -> None:
    async with serve([Agent("chat", chat_graph())]) as client:
        created = (await client.post("/agents/chat/tasks", json={"prompt": "hi"})).json()
        answer = await client.get(
            f"/tasks/{created['taskId']}/events", headers={"Last-Event-ID": value}
        )
    assert answer.status_code == 400 and answer.json()["code"] == "INVALID_LAST_EVENT_ID"


@pytest.mark.parametrize(
    "field",
    [
        {"runId": "r1\r\nx-injected: 1"},
        {"threadId": "t\x00"},
        {"runId": "r" * 257},
        {"threadId": ""},
        {"resume": [{"interruptId": "i\n1", "status": "resolved"}]},
    ],
)
async def test_ids_that_would_break_a_header_or_a_log_are_refused(
    client: httpx.AsyncClient, field: dict[str, object]
) -> None:
    async with live_server([Agent("chat", agent_graph(["Hi"]))]) as url:
        answer = await client.post(f"{url}/agents/chat", json=run_body(**field))
        thread = await client.get(f"{url}/agents/chat/threads/t1")
    assert answer.status_code == 422 and answer.json()["code"] == "INVALID_ID"
    assert thread.json()["messages"] == []  # nothing ran, nothing was written


async def test_ids_with_a_slash_or_a_query_sign_are_reached_where_the_server_says(
    client: httpx.AsyncClient,
) -> None:
    run_id, thread_id = "team/r1?x#y", "user/42"
    async with live_server([Agent("chat", agent_graph(["Hi"]))]) as url:
        body = run_body(thread=thread_id, run=run_id)
        async with client.stream("POST", f"{url}/agents/chat", json=body) as started:
            events_path = started.headers["x-graphwire-events"]
            await started.aread()
        _, replay = await read_events(client, "GET", f"{url}{events_path}")
        thread = await client.get(f"{url}/agents/chat/threads/{quote(thread_id, safe='')}")
        cancel = await client.post(f"{url}/runs/{quote(run_id, safe='')}/cancel")
        dots = await client.post(f"{url}/agents/chat", json=run_body(run=".."))
    assert events_path == "/runs/team%2Fr1%3Fx%23y/events"
    assert replay[0].type == "RUN_STARTED" and replay[-1].type == "RUN_FINISHED"
    assert thread.status_code == 200 and thread.json()["messages"][-1]["content"] == "Hi"
    assert cancel.status_code == 409 and cancel.json()["code"] == "RUN_ENDED"
    assert dots.status_code == 422 and dots.json()["code"] == "INVALID_ID"


async def test_task_ids_with_a_line_break_or_too_long_are_refused() -> None:
    async with serve([Agent("chat", chat_graph())]) as client:
        answer = await client.get("/tasks/a%0D%0Ab")
        for parent in ("r\r\nx", "r" * 257):
            body = {"prompt": "hi", "parentRunId": parent}
            created = await client.post("/agents/chat/tasks", json=body)
            assert created.status_code == 422 and created.json()["code"] == "INVALID_ID"
        assert (await client.get("/tasks")).json()["tasks"] == []
    assert answer.status_code == 422 and answer.json()["code"] == "INVALID_ID"


async def test_bodies_a_page_can_send_cross_site_are_refused() -> None:
    """A web page can POST text/plain or a form to localhost without a preflight."""
    async with serve([Agent("chat", chat_graph())]) as client:
        plain = await client.post(
            "/agents/chat",
            content=httpx.Request("POST", "/", json=run_body()).content,
            headers={"content-type": "text/plain"},
        )
        form = await client.post("/agents/chat/tasks", data={"prompt": "deploy to production"})
        await asyncio.sleep(0.1)
        board = (await client.get("/tasks")).json()
        thread = (await client.get("/agents/chat/threads/t1")).json()
    for refused in (plain, form):
        assert refused.status_code == 415 and refused.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert board["tasks"] == [] and thread["messages"] == []


def demo() -> Agent:
    return Agent("demo", build_demo_graph().copy(update={"checkpointer": InMemorySaver()}))


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"state": {"turns": 2**70}}, "beyond 64 bits"),
        ({"resume": [{"interruptId": "i", "status": "resolved", "payload": -(2**64)}]}, "64 bits"),
        ({"state": {"turns": "x"}}, "state key 'turns' does not fit the graph"),
        ({"state": {"notes": [float("nan")]}}, "a number JSON does not have: nan"),
        ({"state": {"notes": ["1e999"]}}, "a number JSON does not have: inf"),
        ({"forwardedProps": {"x": float("-inf")}}, "a number JSON does not have"),
        (
            {"tools": [{"name": "f", "description": "", "parameters": {"max": float("inf")}}]},
            "tools holds a number JSON does not have",
        ),
        ({"messages": []}, "first run needs a message"),
        ({"messages": [], "forwardedProps": {"command": {"resume": None}}}, "first run needs"),
        ({"messages": [], "forwardedProps": {"command": {"resume": "yes"}}}, "first run needs"),
    ],
)
async def test_input_that_would_fail_late_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, extra: dict[str, object], says: str
) -> None:
    async with live_server([demo()]) as url:
        answer = await client.post(
            f"{url}/agents/demo",
            # NaN as Python writes it; 1e999, which pydantic reads as infinity
            content=json.dumps(run_body(**extra)).replace('"1e999"', "1e999"),
            headers={"content-type": "application/json"},
        )
        thread = (await client.get(f"{url}/agents/demo/threads/t1")).json()
        _, later = await read_events(client, "POST", f"{url}/agents/demo", json=run_body(run="r2"))
    assert answer.status_code == 422 and answer.json()["code"] == "INVALID_INPUT"
    assert says in answer.json()["message"]
    assert thread["messages"] == [] and thread["state"] == {}
    assert later[-1].outcome.type == "success"  # the thread is fine afterwards


async def test_a_resume_with_a_new_user_message_leaves_the_thread_as_it_was(
    client: httpx.AsyncClient,
) -> None:
    async with live_server([demo()]) as url:
        _, first = await read_events(
            client, "POST", f"{url}/agents/demo", json=run_body(text="deploy to staging")
        )
        [interrupt] = first[-1].outcome.interrupts
        before = (await client.get(f"{url}/agents/demo/threads/t1")).json()
        answer = [{"interruptId": interrupt.id, "status": "resolved", "payload": {"approved": 1}}]
        asked = [*before["messages"], {"id": "u2", "role": "user", "content": "and prod"}]
        body = run_body(run="r2", messages=asked, resume=answer)
        _, refused = await read_events(client, "POST", f"{url}/agents/demo", json=body)
        after = (await client.get(f"{url}/agents/demo/threads/t1")).json()
        body = run_body(run="r3", messages=before["messages"], resume=answer)
        _, resumed = await read_events(client, "POST", f"{url}/agents/demo", json=body)
    assert refused[-1].type == "RUN_ERROR" and refused[-1].code == "INVALID_INPUT"
    assert after == before  # nothing written: the interrupt still waits
    assert resumed[-1].outcome.type == "success"


@pytest.mark.parametrize(
    "arguments",
    ["[" * 5000, '{"n": 1' + "0" * 30 + "}", '{"x": NaN}', '{"x": 1e999}', '{"a": [1, 2'],
)
async def test_tool_call_arguments_a_checkpoint_cannot_store_are_kept_as_an_invalid_call(
    client: httpx.AsyncClient, arguments: str
) -> None:
    """A history a client sends back every turn must not fail every turn."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    history = [
        {"id": "u0", "role": "user", "content": "hi"},
        {"id": "a0", "role": "assistant", "content": "", "toolCalls": [call]},
        {"id": "u1", "role": "user", "content": "go on"},
    ]
    async with live_server([Agent("chat", agent_graph(["one", "two"]))]) as url:
        runs = []
        for run in ("r1", "r2"):
            body = run_body(
                run=run, messages=[*history, {"id": f"u-{run}", "role": "user", "content": "and?"}]
            )
            runs.append((await read_events(client, "POST", f"{url}/agents/chat", json=body))[1])
        thread = (await client.get(f"{url}/agents/chat/threads/t1")).json()
    for events in runs:
        assert events[-1].type == "RUN_FINISHED", events[-1]
    [kept] = [m for m in thread["messages"] if m["id"] == "a0"]
    assert kept["toolCalls"][0]["function"]["arguments"] == arguments  # as sent


async def test_ended_runs_kept_by_bytes_older_logs_are_gone_with_a_410(
    client: httpx.AsyncClient,
) -> None:
    graph = agent_graph(["ok"] * 4).copy(update={"checkpointer": InMemorySaver()})
    options = ServerOptions(retained_run_bytes=150_000)
    async with live_server([Agent("chat", graph)], options) as url:
        for n in range(1, 4):  # 100 kB each: only the newest fits
            body = run_body(thread=f"t{n}", run=f"r{n}", text="x" * 100_000)
            await read_events(client, "POST", f"{url}/agents/chat", json=body)
        gone = await client.get(f"{url}/runs/r1/events")
        cancel = await client.post(f"{url}/runs/r2/cancel")
        _, kept = await read_events(client, "GET", f"{url}/runs/r3/events")
        unknown = await client.get(f"{url}/runs/r9/events")
    assert gone.status_code == 410 and gone.json()["code"] == "RUN_EXPIRED"
    assert cancel.status_code == 410 and cancel.json()["code"] == "RUN_EXPIRED"
    assert kept[-1].type == "RUN_FINISHED"
    assert unknown.status_code == 404 and unknown.json()["code"] == "RUN_NOT_FOUND"
