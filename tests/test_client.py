"""graphwire.client against a real server (uvicorn on a loopback port): chat,
tools and an interrupt answered by id, two interrupts, a dropped connection
re-attached with no duplicate and no gap, cancel, the task routes, typed
errors."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from ag_ui.core import (
    BaseEvent,
    Interrupt,
    RunStartedEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
)
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import interrupt

from graphwire.client import (
    ApprovalForm,
    ConflictError,
    GraphwireClient,
    InvalidRequestError,
    NotFoundError,
    PrintRenderer,
    SyncGraphwireClient,
    approve,
    aprint_run,
    display_run,
)
from graphwire.demo import build_demo_graph
from graphwire.server import Agent
from tests.processes import serve as serve_process
from tests.processes import wait_healthy, wait_healthy_sync
from tests.server.agents import slow_graph
from tests.server.conftest import live_server
from tests.server.test_tasks_http import serve as serve_with_tasks
from tests.tasks.graphs import Slow, chat_graph


def _two_approvals() -> Any:
    def ask(name: str) -> Any:
        def node(state: MessagesState) -> dict[str, Any]:
            answer = interrupt({"message": f"approve {name}?"})
            return {"messages": [AIMessage(f"{name}: {answer}", id=f"answer-{name}")]}

        return node

    builder = StateGraph(MessagesState)
    builder.add_node("left", ask("left"))
    builder.add_node("right", ask("right"))
    builder.add_edge(START, "left")
    builder.add_edge(START, "right")
    return builder.compile()


AGENTS = [
    Agent("demo", build_demo_graph()),
    Agent("pair", _two_approvals()),
    Agent("slow", slow_graph([], steps=30, delay=0.05)),
]


@asynccontextmanager
async def client(**options: Any) -> AsyncIterator[GraphwireClient]:
    @asynccontextmanager
    async def saver() -> AsyncIterator[InMemorySaver]:
        yield InMemorySaver()

    async with (
        live_server(AGENTS, checkpointer=saver) as url,
        GraphwireClient(url, **options) as gw,
    ):
        yield gw


async def test_a_chat_streams_typed_events_and_assembles_its_result() -> None:
    async with client() as gw:
        stream = gw.run("demo", [{"role": "user", "content": "hello there"}])
        events = [event async for event in stream]
        result = stream.result
    assert isinstance(events[0], RunStartedEvent)
    assert any(isinstance(e, TextMessageContentEvent) for e in events)
    assert result.outcome == "success" and result.text
    assert [m.role for m in result.messages if m.role != "reasoning"] == ["user", "assistant"]
    assert any(isinstance(e, StateSnapshotEvent) for e in events) == bool(result.state)


async def test_tools_and_an_interrupt_answered_by_id() -> None:
    async with client() as gw:
        weather = await gw.run("demo", [{"role": "user", "content": "weather in Paris"}]).finish()
        assert "sunny in Paris" in weather.text
        asked = await gw.run(
            "demo", [{"role": "user", "content": "deploy to staging"}], thread_id="t-deploy"
        ).finish()
        assert asked.outcome == "interrupt"
        [pending] = asked.interrupts
        done = await gw.resume("demo", "t-deploy", {pending.id: {"approved": True}}).finish()
    assert done.outcome == "success" and "deployed to staging" in done.text


async def test_two_interrupts_answered_each_by_id() -> None:
    async with client() as gw:
        asked = await gw.run("pair", [{"role": "user", "content": "go"}], thread_id="t2").finish()
        assert asked.outcome == "interrupt" and len(asked.interrupts) == 2
        answers = {i.id: f"yes to {i.message}" for i in asked.interrupts}
        done = await gw.resume("pair", "t2", answers).finish()
    texts = sorted(m.content for m in done.messages if m.role == "assistant")
    assert texts == ["left: yes to approve left?", "right: yes to approve right?"]


CUT_AFTER_BYTES = 700


class _CutOnce(httpx.AsyncBaseTransport):
    """Cuts the first stream of ``method`` after a few chunks, as a dropped
    network would."""

    def __init__(self, method: str = "POST", after_bytes: int = CUT_AFTER_BYTES) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._method = method
        self._after_bytes = after_bytes
        self.cut = False
        """Whether a stream was cut, mid-way."""
        self._wrapped = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method == self._method and not self._wrapped:
            self._wrapped = True
            response.stream = _Cut(response.stream, self, self._after_bytes)  # type: ignore[arg-type]
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Cut(httpx.AsyncByteStream):
    def __init__(self, inner: Any, owner: _CutOnce, after_bytes: int) -> None:
        self._inner = inner
        self._owner = owner
        self._after_bytes = after_bytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        left = self._after_bytes
        async for chunk in self._inner:
            if len(chunk) >= left:  # the connection drops mid-event
                yield chunk[:left]
                self._owner.cut = True
                raise httpx.ReadError("connection reset")
            left -= len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize("ids", [{}, {"run_id": "team/r-1?x#y", "thread_id": "user/42?x"}])
async def test_a_dropped_connection_is_re_attached_with_no_duplicate_and_no_gap(
    ids: dict[str, str],
) -> None:
    transport = _CutOnce()
    async with client() as gw:
        http = httpx.AsyncClient(base_url=str(gw.http.base_url), transport=transport, timeout=30)
        async with GraphwireClient("", http=http) as cut:
            stream = cut.run("slow", [{"role": "user", "content": "go"}], **ids)
            events: list[BaseEvent] = [event async for event in stream]
            seen = await gw.http.get(f"/runs/{quote(stream.run_id, safe='')}/events")
            thread = await cut.thread("slow", stream.thread_id)
    assert transport.cut and thread["messages"]
    ticks = [e.value for e in events if getattr(e, "name", None) == "tick"]
    assert ticks == list(range(30))  # every event once, in order
    assert stream.result.outcome == "success"
    assert seen.text.count("\nid: ") + seen.text.startswith("id: ") == len(events)


async def test_cancel_stops_the_run_on_the_server() -> None:
    async with client() as gw:
        stream = gw.run("slow", [{"role": "user", "content": "go"}])
        async for event in stream:
            if getattr(event, "name", None) == "tick":
                await stream.cancel()
        assert stream.result.outcome == "cancelled"
        with pytest.raises(ConflictError) as ended:
            await gw.cancel(stream.run_id)
    assert ended.value.code == "RUN_ENDED"


async def test_errors_are_typed_and_carry_the_servers_code() -> None:
    async with client() as gw:
        with pytest.raises(NotFoundError) as missing:
            await gw.run("nobody", [{"role": "user", "content": "hi"}]).finish()
        with pytest.raises(InvalidRequestError) as bad:
            await gw.run("demo", [{"role": "user", "content": "hi"}], thread_id="a\nb").finish()
        busy = gw.run("slow", [{"role": "user", "content": "go"}], thread_id="busy")
        async for _ in busy:
            with pytest.raises(ConflictError) as taken:
                await gw.run(
                    "slow", [{"role": "user", "content": "too"}], thread_id="busy"
                ).finish()
            break
        await busy.aclose()
    assert (missing.value.status, missing.value.code) == (404, "AGENT_NOT_FOUND")
    assert (bad.value.status, bad.value.code) == (422, "INVALID_ID")
    assert taken.value.code == "THREAD_BUSY"


async def test_every_task_route() -> None:
    slow = Slow()
    agents = [Agent("chat", chat_graph()), Agent("slow", slow.graph())]
    async with serve_with_tasks(agents) as http:
        gw = GraphwireClient("", http=http)
        task = await gw.create_task("chat", "summarise", title="Summary")
        events = [event async for event in gw.task_events(task["taskId"])]
        assert events[0].type == "RUN_STARTED" and events[-1].type == "RUN_FINISHED"
        done = await gw.task(task["taskId"])
        assert done["state"] == "done" and done["children"] == []
        board = await gw.tasks(state="done")
        assert [t["taskId"] for t in board["tasks"]] == [task["taskId"]]
        again = await gw.followup(task["taskId"], "and now in French")
        assert again["state"] == "ongoing"
        async for _ in gw.task_events(task["taskId"], after=len(events)):
            pass
        running = await gw.create_task("slow", "never mind")
        await asyncio.wait_for(slow.started.wait(), 5)
        cancelled = await gw.cancel_task(running["taskId"])
        assert cancelled["state"] == "cancelled"
        retried = await gw.retry_task(cancelled["taskId"])
        assert retried["state"] in ("queued", "ongoing")
        slow.release.set()
        with pytest.raises(ConflictError) as refused:
            await gw.retry_task(task["taskId"])  # done: nothing to retry
        assert refused.value.code.startswith("TASK_")


async def test_a_dropped_task_stream_is_re_attached_with_no_duplicate_and_no_gap() -> None:
    agents = [Agent("chat", chat_graph())]
    transport = _CutOnce("GET")
    async with serve_with_tasks(agents) as http:
        gw = GraphwireClient("", http=http)
        task = await gw.create_task("chat", "summarise", title="Summary")
        whole = [event async for event in gw.task_events(task["taskId"])]
        cut = httpx.AsyncClient(base_url=str(http.base_url), transport=transport, timeout=30)
        async with GraphwireClient("", http=cut) as dropping:
            again = [event async for event in dropping.task_events(task["taskId"])]
    assert transport.cut
    assert len(whole) > 3
    assert [e.model_dump() for e in again] == [e.model_dump() for e in whole]


@pytest.mark.parametrize("cut_after", [CUT_AFTER_BYTES, 0], ids=["mid-run", "before-any-event"])
async def test_a_dropped_task_handshake_is_re_attached(tmp_path: Path, cut_after: int) -> None:
    """Re-attached through the task's log (its seqs), from the start when the
    drop came before any event: only this run's events, once each."""
    transport = _CutOnce("POST", cut_after)
    process, url = serve_process(["--store", "memory"], tmp_path)
    try:
        await wait_healthy(url)
        http = httpx.AsyncClient(base_url=url, timeout=30)
        gw = GraphwireClient("", http=http)
        task = await gw.create_task("demo", "deploy to staging")
        async for _ in gw.task_events(task["taskId"]):
            pass
        task = await gw.task(task["taskId"])
        [pending] = [Interrupt.model_validate(i) for i in task["interrupts"]]
        cut = httpx.AsyncClient(base_url=str(http.base_url), transport=transport, timeout=30)
        async with GraphwireClient("", http=cut) as dropping:
            stream = dropping.answer("demo", task["threadId"], {pending.id: approve(pending)})
            events = [event async for event in stream]
        done = await gw.task(task["taskId"])
        replay = [event async for event in gw.task_events(task["taskId"])]
        await gw.aclose()
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert transport.cut
    assert stream.result.outcome == "success" and "deployed to staging" in stream.result.text
    assert done["state"] == "done" and done["runIds"][-1] == stream.run_id
    handshake = replay[-len(events) :]
    assert [e.model_dump() for e in events] == [e.model_dump() for e in handshake]


def test_the_sync_client_for_scripts(tmp_path: Path) -> None:
    process, url = serve_process(["--store", "memory"], tmp_path)
    try:
        wait_healthy_sync(url, process)
        with SyncGraphwireClient(url) as gw:
            stream = gw.run("demo", [{"role": "user", "content": "deploy to staging"}])
            types = [event.type for event in stream]
            asked = stream.result
            assert types[0] == "RUN_STARTED" and asked.outcome == "interrupt"
            [pending] = asked.interrupts
            done = gw.resume("demo", asked.thread_id, {pending.id: {"approved": True}}).finish()
            assert "deployed to staging" in done.text
            task = gw.create_task("demo", "hello")
            events = list(gw.task_events(task["taskId"]))
            assert events[-1].type == "RUN_FINISHED"
            assert gw.task(task["taskId"])["state"] == "done"
            assert [a["name"] for a in gw.agents()] == ["demo"]
    finally:
        process.terminate()
        process.communicate(timeout=30)


async def test_the_print_renderer_shows_a_run_as_text() -> None:
    out = io.StringIO()
    async with client() as gw:
        await aprint_run(gw.run("demo", [{"role": "user", "content": "weather in Paris"}]), out)
        await aprint_run(gw.run("demo", [{"role": "user", "content": "deploy to staging"}]), out)
        stream = gw.run("slow", [{"role": "user", "content": "go"}])
        async for event in stream:
            PrintRenderer(out)(event)
            await stream.cancel()
    text = out.getvalue()
    assert '-> get_weather({"city": "Paris"})' in text.replace("'", '"')
    assert "<- get_weather: it is sunny in Paris" in text
    assert "assistant: " in text and "state: {" in text
    assert "? waiting for " in text and "Deploy to staging?" in text
    assert text.rstrip().endswith("(cancelled)")


class _FakeDisplay:
    """IPython's ``display`` as a notebook cell would see it: one output, updated
    (``shown``), and the widgets displayed under it."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.widgets: list[Any] = []

    def __call__(self, obj: Any, display_id: bool = False) -> _FakeDisplay | None:
        if not display_id:
            self.widgets.append(obj)
            return None
        self.shown.append(obj._repr_html_())
        return self

    def update(self, obj: Any) -> None:
        self.shown.append(obj._repr_html_())


async def test_the_notebook_view_renders_a_run_live() -> None:
    cell = _FakeDisplay()
    async with client() as gw:
        asked = await display_run(
            gw.run("demo", [{"role": "user", "content": "deploy to <staging>"}]), cell
        )
        done = await display_run(
            gw.resume("demo", asked.thread_id, {asked.interrupts[0].id: {"approved": True}}), cell
        )
    assert len(cell.shown) > 4  # updated as the events came
    waiting = next(h for h in cell.shown if "waiting for" in h)
    assert asked.interrupts[0].id in waiting and "&lt;staging&gt;" in waiting  # escaped
    assert "deployed to" in cell.shown[-1] and "<i>success</i>" in cell.shown[-1]
    assert done.outcome == "success"
    assert len(cell.widgets) == 1  # the first run's approval form (answered in code here)


@pytest.mark.parametrize(
    ("click", "said"), [("approve", "deployed to staging"), ("reject", "was not approved")]
)
async def test_the_notebook_approval_form_resumes_in_the_same_output(click: str, said: str) -> None:
    cell = _FakeDisplay()
    async with client() as gw:
        asked = await display_run(
            gw.run("demo", [{"role": "user", "content": "deploy to staging"}]), cell
        )
        [form] = cell.widgets
        assert isinstance(form, ApprovalForm)
        assert "application/vnd.jupyter.widget-view+json" in form._repr_mimebundle_()
        row = form.rows[asked.interrupts[0].id]
        assert "Deploy to staging?" in row.question.value
        getattr(row, click).click()
        assert row.approve.disabled and row.reject.disabled  # answered once
        assert form.sent is not None
        await form.sent
    assert said in cell.shown[-1] and "<i>success</i>" in cell.shown[-1]
    assert form.status.value == "sent"
    assert len(cell.widgets) == 1  # the resumed run asked nothing more


async def test_a_json_answer_is_checked_and_a_refused_resume_can_be_answered_again() -> None:
    cell = _FakeDisplay()
    async with client() as gw:
        asked = await display_run(
            gw.run("demo", [{"role": "user", "content": "deploy to staging"}]), cell
        )
        [form] = cell.widgets
        row = form.rows[asked.interrupts[0].id]
        row.json.value = "{approved: yes"
        row.send.click()
        assert "not JSON" in row.note.value and form.sent is None
        # Answered meanwhile in code: the form's resume is refused, and says so.
        await gw.resume("demo", asked.thread_id, {asked.interrupts[0].id: True}).finish()
        row.json.value = '{"approved": true}'
        row.send.click()
        assert form.sent is not None
        await form.sent
        assert "UNKNOWN_INTERRUPT" in form.status.value
        assert not row.approve.disabled and row.note.value == ""


async def test_a_refused_start_cancels_nothing_and_a_failed_connect_posts_again() -> None:
    async with client() as gw:
        busy = gw.run("slow", [{"role": "user", "content": "go"}], thread_id="mine")
        async for _ in busy:
            break
        same_id = gw.run("slow", [{"role": "user", "content": "go"}], run_id=busy.run_id)
        with pytest.raises(ConflictError):
            async with same_id:  # refused (RUN_EXISTS): leaving must not cancel busy's run
                await same_id.finish()
        assert (await busy.finish()).outcome == "success"
        flaky = _FailFirstConnect()
        http = httpx.AsyncClient(base_url=str(gw.http.base_url), transport=flaky, timeout=30)
        async with GraphwireClient("", http=http) as retrying:
            done = await retrying.run("demo", [{"role": "user", "content": "hello"}]).finish()
    assert flaky.failed and done.outcome == "success"


class _LoseFirstAnswer(httpx.AsyncBaseTransport):
    """The first POST reaches the server, its answer never comes back."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.lost = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method == "POST" and not self.lost:
            self.lost = True
            await response.aclose()
            raise httpx.ReadError("connection reset before the answer")
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_run_whose_post_answer_was_lost_is_re_attached_not_posted_again() -> None:
    async with client() as gw:
        lossy = _LoseFirstAnswer()
        http = httpx.AsyncClient(base_url=str(gw.http.base_url), transport=lossy, timeout=30)
        async with GraphwireClient("", http=http) as retrying:
            stream = retrying.run("slow", [{"role": "user", "content": "go"}], thread_id="lost")
            events = [event async for event in stream]
    assert lossy.lost
    ticks = [e.value for e in events if getattr(e, "name", None) == "tick"]
    assert ticks == list(range(30))  # every event once: not a THREAD_BUSY second POST
    assert isinstance(events[0], RunStartedEvent) and stream.result.outcome == "success"


async def test_the_approval_form_asks_for_two_interrupts_then_resumes() -> None:
    cell = _FakeDisplay()
    async with client() as gw:
        asked = await display_run(gw.run("pair", [{"role": "user", "content": "go"}]), cell)
        [form] = cell.widgets
        assert len(form.rows) == 2
        first, second = (form.rows[i.id] for i in asked.interrupts)
        first.approve.click()
        assert form.sent is None  # one still open
        second.json.value = '"with care"'
        second.send.click()
        assert form.sent is not None
        await form.sent
    assert "left: " in cell.shown[-1] and "with care" in cell.shown[-1]
    assert form.status.value == "sent" and len(cell.widgets) == 1


class _FailFirstConnect(httpx.AsyncBaseTransport):
    """The first request never reaches the server (a connect error)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.failed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.failed:
            self.failed = True
            raise httpx.ConnectError("connection refused", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_a_sync_client_that_fails_to_open_leaves_no_thread_behind() -> None:
    before = threading.active_count()
    with pytest.raises(TypeError):
        SyncGraphwireClient("http://127.0.0.1:9", bogus=1)
    assert threading.active_count() == before
