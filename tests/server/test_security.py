"""API key, CORS and the auth hook that scopes threads and runs to a principal."""

from __future__ import annotations

import httpx
from starlette.requests import Request

from graphwire.server import Agent, ServerOptions
from tests.graphs import agent_graph
from tests.server.conftest import live_server, read_events, run_body


async def test_api_key_guards_every_route_but_healthz(client: httpx.AsyncClient) -> None:
    agents = [Agent("chat", agent_graph(["Hi."]))]
    async with live_server(agents, ServerOptions(api_key="s3cret")) as url:
        health = await client.get(f"{url}/healthz")
        listing = await client.get(f"{url}/agents")
        wrong = await client.post(
            f"{url}/agents/chat", json=run_body(), headers={"Authorization": "Bearer nope"}
        )
        _, events = await read_events(
            client,
            "POST",
            f"{url}/agents/chat",
            json=run_body(),
            headers={"Authorization": "Bearer s3cret"},
        )
    assert health.status_code == 200
    assert listing.status_code == 401 and listing.json()["code"] == "UNAUTHORIZED"
    assert wrong.status_code == 401
    assert events[-1].outcome.type == "success"


async def test_cors_is_off_by_default_and_configurable(client: httpx.AsyncClient) -> None:
    agents = [Agent("chat", agent_graph([]))]
    headers = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    async with live_server(agents) as url:
        off = await client.options(f"{url}/agents/chat", headers=headers)
    async with live_server(agents, ServerOptions(cors_origins=["http://app.example"])) as url:
        on = await client.options(f"{url}/agents/chat", headers=headers)
    assert "access-control-allow-origin" not in off.headers
    assert on.headers["access-control-allow-origin"] == "http://app.example"


def user_of(request: Request) -> str | None:
    return request.headers.get("x-user")


async def test_auth_hook_scopes_threads_and_runs(client: httpx.AsyncClient) -> None:
    agents = [Agent("chat", agent_graph(["For alice.", "For bob."]))]
    alice, bob = {"x-user": "alice"}, {"x-user": "bob"}
    async with live_server(agents, ServerOptions(auth_hook=user_of)) as url:
        anonymous = await client.get(f"{url}/agents")
        await read_events(client, "POST", f"{url}/agents/chat", json=run_body(), headers=alice)
        _, bobs = await read_events(
            client, "POST", f"{url}/agents/chat", json=run_body(run="r2"), headers=bob
        )
        alice_thread = (await client.get(f"{url}/agents/chat/threads/t1", headers=alice)).json()
        bob_thread = (await client.get(f"{url}/agents/chat/threads/t1", headers=bob)).json()
        bob_reads_alice = await client.get(f"{url}/runs/r1/events", headers=bob)
        bob_cancels_alice = await client.post(f"{url}/runs/r1/cancel", headers=bob)
    assert anonymous.status_code == 401
    assert [m["content"] for m in alice_thread["messages"]][-1] == "For alice."
    assert [m["content"] for m in bob_thread["messages"]][-1] == "For bob."
    assert len(bob_thread["messages"]) == 2
    assert bobs[-1].outcome.type == "success"
    assert bob_reads_alice.status_code == 404 and bob_cancels_alice.status_code == 404


async def test_run_ids_are_scoped_to_the_principal(client: httpx.AsyncClient) -> None:
    """Bob sending Alice's run id neither learns it exists nor takes it from her."""
    agents = [Agent("chat", agent_graph(["For alice.", "For bob."]))]
    alice, bob = {"x-user": "alice"}, {"x-user": "bob"}
    async with live_server(agents, ServerOptions(auth_hook=user_of)) as url:
        await read_events(client, "POST", f"{url}/agents/chat", json=run_body(), headers=alice)
        _, bobs = await read_events(
            client, "POST", f"{url}/agents/chat", json=run_body(thread="b1"), headers=bob
        )
        _, alices = await read_events(client, "GET", f"{url}/runs/r1/events", headers=alice)
        again = await client.post(f"{url}/agents/chat", json=run_body(thread="a2"), headers=alice)
    assert bobs[0].run_id == "r1" and bobs[-1].outcome.type == "success"
    assert alices[0].thread_id == "t1"  # Alice's r1 is still hers
    assert again.status_code == 409 and again.json()["code"] == "RUN_EXISTS"
