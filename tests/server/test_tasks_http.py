"""Delegated tasks over HTTP on a real server: board, actions, events, handshake."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
from ag_ui.core import BaseEvent, RunErrorEvent, RunFinishedEvent, RunStartedEvent
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.pregel import Pregel
from langgraph.types import interrupt

from graphwire.server import Agent, ServerOptions
from graphwire.tasks import MemoryTaskStore, TaskStore
from tests.agui_checks import check_run
from tests.server.conftest import live_server, read_events, run_body
from tests.tasks.graphs import Flaky, Slow, chat_graph, review_graph
from tests.tasks.test_tools import board_graph


@contextlib.asynccontextmanager
async def serve(
    agents: Sequence[Agent], options: ServerOptions | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    store = MemoryTaskStore()

    @contextlib.asynccontextmanager
    async def tasks() -> AsyncIterator[TaskStore]:
        yield store

    async with (
        live_server(agents, options, tasks=tasks) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client


def runs_of(events: Sequence[BaseEvent]) -> list[list[BaseEvent]]:
    runs: list[list[BaseEvent]] = []
    for event in events:
        if isinstance(event, RunStartedEvent):
            runs.append([])
        runs[-1].append(event)
    for run in runs:
        check_run(run)
    return runs


async def create(client: httpx.AsyncClient, agent: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/agents/{agent}/tasks", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def task_events(
    client: httpx.AsyncClient, task_id: str, after: int = 0
) -> tuple[list[int], list[BaseEvent]]:
    headers = {"last-event-id": str(after)} if after else {}
    return await read_events(client, "GET", f"/tasks/{task_id}/events", headers=headers)


async def until(
    client: httpx.AsyncClient, task_id: str, state: str, seconds: float = 10
) -> dict[str, Any]:
    async with asyncio.timeout(seconds):
        while True:
            task: dict[str, Any] = (await client.get(f"/tasks/{task_id}")).json()
            if task["state"] == state:
                return task
            await asyncio.sleep(0.02)


async def test_create_then_watch_a_task_to_done() -> None:
    async with serve([Agent("chat", chat_graph())]) as client:
        task = await create(client, "chat", prompt="summarise", title="Summary", parentRunId="p1")
        assert task["state"] == "queued"
        assert task["title"] == "Summary"
        assert task["threadId"] == task["taskId"]
        assert task["createdAt"].endswith("+00:00")
        assert task["eventsUrl"].endswith(f"/tasks/{task['taskId']}/events")
        ids, events = await task_events(client, task["taskId"])
        assert ids == list(range(1, len(ids) + 1))
        [run] = runs_of(events)
        start = run[0]
        assert isinstance(start, RunStartedEvent)
        assert (start.thread_id, start.parent_run_id) == (task["threadId"], "p1")
        done = (await client.get(f"/tasks/{task['taskId']}")).json()
        assert (done["state"], done["result"], done["runIds"]) == (
            "done",
            "turn 1: summarise",
            [start.run_id],
        )
        assert done["children"] == []


async def test_bad_requests() -> None:
    async with serve([Agent("chat", chat_graph())]) as client:
        blank = await client.post("/agents/chat/tasks", json={"prompt": "  "})
        assert (blank.status_code, blank.json()["code"]) == (422, "INVALID_INPUT")
        extra = await client.post("/agents/chat/tasks", json={"prompt": "x", "bogus": 1})
        assert extra.status_code == 422
        assert extra.json()["details"][0]["loc"] == ["bogus"]
        ghost = await client.post("/agents/ghost/tasks", json={"prompt": "x"})
        assert (ghost.status_code, ghost.json()["code"]) == (404, "AGENT_NOT_FOUND")
        for method, path in [
            ("GET", "/tasks/nope"),
            ("GET", "/tasks/nope/events"),
            ("POST", "/tasks/nope/cancel"),
            ("POST", "/tasks/nope/retry"),
        ]:
            missing = await client.request(method, path)
            assert (missing.status_code, missing.json()["code"]) == (404, "TASK_NOT_FOUND")
        bad_filter = await client.get("/tasks", params={"state": "sleeping"})
        assert bad_filter.status_code == 422


async def test_board_filters_and_pages_newest_first() -> None:
    slow = Slow()
    agents = [Agent("chat", chat_graph()), Agent("slow", slow.graph())]
    async with serve(agents) as client:
        parent = await create(client, "slow", prompt="parent")
        made = [
            await create(client, "chat", prompt=f"c{n}", parentTaskId=parent["taskId"])
            for n in range(5)
        ]
        for task in made:
            await until(client, task["taskId"], "done")
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/tasks", params=params)).json()
            seen.extend(t["taskId"] for t in page["tasks"])
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == [t["taskId"] for t in reversed(made)] + [parent["taskId"]]
        chat_done = (await client.get("/tasks", params={"agent": "chat", "state": "done"})).json()
        assert len(chat_done["tasks"]) == 5
        ongoing = (await client.get("/tasks", params={"state": "ongoing,queued"})).json()
        assert [t["taskId"] for t in ongoing["tasks"]] == [parent["taskId"]]
        children = (await client.get("/tasks", params={"parent": parent["taskId"]})).json()
        assert len(children["tasks"]) == 5
        one = (await client.get(f"/tasks/{parent['taskId']}")).json()
        assert {c["taskId"] for c in one["children"]} == {t["taskId"] for t in made}
        slow.release.set()


async def test_cancel_retry_followup_and_409s() -> None:
    slow, flaky = Slow(), Flaky()
    agents = [
        Agent("slow", slow.graph()),
        Agent("flaky", flaky.graph()),
        Agent("chat", chat_graph()),
    ]
    async with serve(agents) as client:
        running = await create(client, "slow", prompt="wait")
        await until(client, running["taskId"], "ongoing")
        stream = asyncio.create_task(task_events(client, running["taskId"]))
        await asyncio.wait_for(slow.started.wait(), 5)
        cancelled = await client.post(f"/tasks/{running['taskId']}/cancel")
        assert cancelled.json()["state"] == "cancelled"
        _, events = await stream
        assert isinstance(events[-1], RunFinishedEvent)
        assert events[-1].outcome is not None
        assert events[-1].outcome.type == "cancelled"
        assert slow.cancelled == 1

        failing = await create(client, "flaky", prompt="go")
        failed = await until(client, failing["taskId"], "failed")
        assert failed["error"]["code"] == "AGENT_ERROR"
        flaky.failing = False
        retried = await client.post(f"/tasks/{failing['taskId']}/retry")
        assert retried.json()["state"] == "queued"
        assert (await until(client, failing["taskId"], "done"))["result"] == "worked"
        again = await client.post(f"/tasks/{failing['taskId']}/retry")
        assert (again.status_code, again.json()["code"]) == (409, "TASK_DONE")

        chat = await create(client, "chat", prompt="apples")
        await until(client, chat["taskId"], "done")
        more = await client.post(f"/tasks/{chat['taskId']}/followup", json={"message": "pears"})
        assert more.json()["state"] == "ongoing"
        followed = await until(client, chat["taskId"], "done")
        assert followed["result"] == "turn 2: apples / pears"
        empty = await client.post(f"/tasks/{chat['taskId']}/followup", json={"message": ""})
        assert empty.status_code == 422


async def test_reattach_with_last_event_id_gets_the_rest_once() -> None:
    slow = Slow()
    async with serve([Agent("slow", slow.graph())]) as client:
        task = await create(client, "slow", prompt="long")
        first_ids, _ = await read_events(client, "GET", f"/tasks/{task['taskId']}/events", limit=2)
        slow.release.set()
        rest_ids, rest = await task_events(client, task["taskId"], after=first_ids[-1])
        all_ids, everything = await task_events(client, task["taskId"])
        assert first_ids + rest_ids == all_ids
        assert [e.type for e in everything[len(first_ids) :]] == [e.type for e in rest]


async def test_the_handshake_resumes_a_task_in_review() -> None:
    async with serve([Agent("review", review_graph())]) as client:
        task = await create(client, "review", prompt="ship")
        review = await until(client, task["taskId"], "review_needed")
        [pending] = review["interrupts"]
        thread = task["threadId"]
        wrong = answering(thread=thread, run="bad", resume=[_answer("nope")])
        _, refused = await read_events(client, "POST", "/agents/review", json=wrong)
        assert [e.type for e in refused] == ["RUN_STARTED", "RUN_ERROR"]
        assert isinstance(refused[-1], RunErrorEvent)
        assert refused[-1].code == "UNKNOWN_INTERRUPT"
        body = answering(thread=thread, run="client-run", resume=[_answer(pending["id"])])
        ids, events = await read_events(client, "POST", "/agents/review", json=body)
        [run] = runs_of(events)
        assert isinstance(run[0], RunStartedEvent)
        assert run[0].run_id == "client-run"
        assert isinstance(run[-1], RunFinishedEvent)
        assert run[-1].outcome is not None
        assert run[-1].outcome.type == "success"
        done = await until(client, task["taskId"], "done")
        assert (done["result"], done["runIds"][-1]) == ("approved: yes", "client-run")
        logged_ids, logged = await task_events(client, task["taskId"])
        assert logged_ids[-len(ids) :] == ids  # the same run, with the same seqs, in the log
        assert [e.type for e in logged[-len(events) :]] == [e.type for e in events]
        twice = answering(thread=thread, run="again", resume=[_answer(pending["id"])])
        _, late = await read_events(client, "POST", "/agents/review", json=twice)
        assert isinstance(late[-1], RunErrorEvent)
        assert late[-1].code == "TASK_DONE"


async def test_a_review_answer_no_checkpoint_can_store_is_refused_and_the_review_stays() -> None:
    async with serve([Agent("review", review_graph())]) as client:
        task = await create(client, "review", prompt="ship")
        review = await until(client, task["taskId"], "review_needed")
        answer = _answer(review["interrupts"][0]["id"]) | {"payload": {"approved": 10**30}}
        body = answering(thread=task["threadId"], run="huge", resume=[answer])
        refused = await client.post("/agents/review", json=body)
        assert (refused.status_code, refused.json()["code"]) == (422, "INVALID_INPUT")
        assert (await client.get(f"/tasks/{task['taskId']}")).json()["state"] == "review_needed"


async def test_a_dropped_handshake_stream_does_not_stop_the_task() -> None:
    async with serve([Agent("review", review_graph())]) as client:
        task = await create(client, "review", prompt="ship")
        review = await until(client, task["taskId"], "review_needed")
        answer = [_answer(review["interrupts"][0]["id"])]
        body = answering(thread=task["threadId"], run="dropped", resume=answer)
        await read_events(client, "POST", "/agents/review", json=body, limit=1)
        assert (await until(client, task["taskId"], "done"))["result"] == "approved: yes"


async def test_another_principal_sees_no_task() -> None:
    def user_of(request: Any) -> str | None:
        user: str | None = request.headers.get("x-user")
        return user

    options = ServerOptions(auth_hook=user_of)
    async with serve([Agent("chat", chat_graph())], options) as client:
        ann = {"x-user": "ann"}
        made = await client.post("/agents/chat/tasks", json={"prompt": "hers"}, headers=ann)
        task_id = made.json()["taskId"]
        bob = {"x-user": "bob"}
        assert (await client.get(f"/tasks/{task_id}", headers=bob)).status_code == 404
        assert (await client.post(f"/tasks/{task_id}/cancel", headers=bob)).status_code == 404
        assert (await client.get("/tasks", headers=bob)).json()["tasks"] == []
        mine = (await client.get("/tasks", headers=ann)).json()["tasks"]
        assert [t["taskId"] for t in mine] == [task_id]


def answering(**fields: Any) -> dict[str, Any]:
    """A resume on a task's thread as examples/copilotkit sends it: no messages."""
    return run_body(messages=[], **fields)


async def test_a_handshake_resume_with_a_new_user_message_is_refused() -> None:
    async with serve([Agent("review", review_graph())]) as client:
        task = await create(client, "review", prompt="ship")
        review = await until(client, task["taskId"], "review_needed")
        history = (await client.get(f"/agents/review/threads/{task['threadId']}")).json()
        answer = [_answer(review["interrupts"][0]["id"])]
        asked = [*history["messages"], {"id": "u-new", "role": "user", "content": "and more"}]
        body = run_body(thread=task["threadId"], run="with-new", resume=answer, messages=asked)
        _, refused = await read_events(client, "POST", "/agents/review", json=body)
        assert isinstance(refused[-1], RunErrorEvent) and refused[-1].code == "INVALID_INPUT"
        assert "u-new" in refused[-1].message
        assert (await client.get(f"/tasks/{task['taskId']}")).json()["state"] == "review_needed"
        body = run_body(
            thread=task["threadId"], run="as-held", resume=answer, messages=history["messages"]
        )
        _, resumed = await read_events(client, "POST", "/agents/review", json=body)
        assert isinstance(resumed[-1], RunFinishedEvent)
        assert (await until(client, task["taskId"], "done"))["result"] == "approved: yes"


def _answer(interrupt_id: str) -> dict[str, Any]:
    return {"interruptId": interrupt_id, "status": "resolved", "payload": "yes"}


async def test_a_task_thread_describes_its_task_for_a_reloaded_page() -> None:
    async with serve([Agent("review", review_graph())]) as client:
        task = await create(client, "review", prompt="ship")
        await until(client, task["taskId"], "review_needed")
        thread = (await client.get(f"/agents/review/threads/{task['threadId']}")).json()
        assert thread["task"]["taskId"] == task["taskId"]
        assert thread["task"]["state"] == "review_needed"
        assert [i["id"] for i in thread["interrupts"]] == [
            i["id"] for i in thread["task"]["interrupts"]
        ]


async def test_a_task_from_messages() -> None:
    async with serve([Agent("chat", chat_graph())]) as client:
        messages = [
            {"id": "m1", "role": "user", "content": "first"},
            {"id": "m2", "role": "user", "content": "second"},
        ]
        task = await create(client, "chat", messages=messages)
        assert (task["prompt"], task["title"]) == (None, "second")
        done = await until(client, task["taskId"], "done")
        assert done["result"] == "turn 2: first / second"


async def test_the_thread_state_shows_a_live_tasks_summary() -> None:
    async with serve([Agent("boss", board_graph())]) as client:
        _, events = await read_events(
            client, "POST", "/agents/boss", json=run_body(thread="conv", text="plan")
        )
        assert events[-1].type == "RUN_FINISHED"
        [child] = (await client.get("/tasks", params={"parentThread": "conv"})).json()["tasks"]
        await until(client, child["taskId"], "done")
        thread = (await client.get("/agents/boss/threads/conv")).json()
        # The checkpoint holds the summary as it was at delegation; the thread
        # description brings it up to date.
        assert thread["state"]["tasks"] == [
            {"id": child["taskId"], "title": "sub: crunch the numbers", "state": "done"}
        ]


def two_reviews() -> Pregel[Any, Any]:
    """Two nodes in parallel, each asking with interrupt()."""

    def ask(name: str) -> Callable[[MessagesState], dict[str, Any]]:
        def node(state: MessagesState) -> dict[str, Any]:
            answer = interrupt({"question": f"{name}?"})
            return {"messages": [AIMessage(f"{name}: {answer}", id=f"said-{name}")]}

        return node

    builder = StateGraph(MessagesState)
    for name in ("left", "right"):
        builder.add_node(name, ask(name))
        builder.add_edge(START, name)
    return builder.compile(checkpointer=InMemorySaver())


async def test_a_handshake_must_answer_every_open_interrupt() -> None:
    async with serve([Agent("two", two_reviews())]) as client:
        task = await create(client, "two", prompt="both")
        review = await until(client, task["taskId"], "review_needed")
        first, second = (i["id"] for i in review["interrupts"])
        partial = answering(thread=task["threadId"], run="half", resume=[_answer(first)])
        _, refused = await read_events(client, "POST", "/agents/two", json=partial)
        assert isinstance(refused[-1], RunErrorEvent)
        assert refused[-1].code == "RESUME_INCOMPLETE"
        assert (await client.get(f"/tasks/{task['taskId']}")).json()["state"] == "review_needed"
        answers = [_answer(first), _answer(second)]
        both = answering(thread=task["threadId"], run="all", resume=answers)
        _, events = await read_events(client, "POST", "/agents/two", json=both)
        assert isinstance(events[-1], RunFinishedEvent)
        assert (await until(client, task["taskId"], "done"))["state"] == "done"
