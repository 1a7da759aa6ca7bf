"""The SSE response driven by hand-written receive/send, with a time bound."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from ag_ui.core import (
    BaseEvent,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallStartEvent,
)

from graphwire.runs import RunLog, encode_event
from graphwire.server._sse import EventStream, RunLogSource, TaskLogSource
from graphwire.tasks import Lease, MemoryTaskStore, RunOutcome, TaskSpec


async def receive() -> dict[str, Any]:
    """A client that stays connected."""
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}


async def test_a_client_that_stops_reading_is_treated_as_gone() -> None:
    log = RunLog()
    log.put(RunStartedEvent(thread_id="t", run_id="r"))
    stopped: list[bool] = []
    never = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            await never.wait()  # the client's window is full: the send never completes

    stream = EventStream(
        RunLogSource(log),
        0,
        keepalive=10,
        send_timeout=0.1,
        on_disconnect=lambda: stopped.append(True),
    )
    async with asyncio.timeout(5):
        await stream({"type": "http"}, receive, send)
    assert stopped == [True]


async def test_replay_after_last_event_id_then_end() -> None:
    log = RunLog()
    log.put(RunStartedEvent(thread_id="t", run_id="r"))
    log.put(RunFinishedEvent(thread_id="t", run_id="r"))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with asyncio.timeout(5):
        await EventStream(RunLogSource(log), 1, keepalive=10, send_timeout=1)(
            {"type": "http"}, receive, send
        )
    bodies = b"".join(m.get("body", b"") for m in sent)
    assert bodies.startswith(b'id: 2\ndata: {"type":"RUN_FINISHED"')
    assert sent[-1]["more_body"] is False


@pytest.mark.parametrize(
    ("flush_interval", "deltas", "writes"), [(0.0, ["a", "b", "c"], 5), (60.0, ["a", "bc"], 3)]
)
async def test_a_gathering_writer_sends_a_burst_as_one_write_with_deltas_merged(
    flush_interval: float, deltas: list[str], writes: int
) -> None:
    log = RunLog()
    log.put(RunStartedEvent(thread_id="t", run_id="r"))
    log.put(TextMessageStartEvent(message_id="m", role="assistant"))
    bodies: list[bytes] = []
    first = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message.get("body"):
            bodies.append(message["body"])
            first.set()

    stream = EventStream(
        RunLogSource(log), 0, keepalive=10, send_timeout=1, flush_interval=flush_interval
    )
    writing = asyncio.ensure_future(stream({"type": "http"}, receive, send))
    async with asyncio.timeout(5):
        await first.wait()
        for delta in "abc":
            log.put(TextMessageContentEvent(message_id="m", delta=delta))
            for _ in range(5):  # an awake writer sends each delta on its own
                await asyncio.sleep(0)
        log.put(RunFinishedEvent(thread_id="t", run_id="r"))
        await writing  # a gathering (60 s here) ends when the run's log closes
    frames = b"".join(bodies).decode().split("\n\n")[:-1]
    events = [json.loads(f.split("data: ", 1)[1]) for f in frames]
    sent = [e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert sent == deltas
    assert [f.split("\n")[0] for f in frames] == [f"id: {n}" for n in range(1, len(frames) + 1)]
    # Gathering: the message's first content at once, the rest in one write.
    assert len(bodies) == writes


@pytest.mark.parametrize(
    ("start", "first", "more"),
    [
        (
            TextMessageStartEvent(message_id="m", role="assistant"),
            TextMessageContentEvent(message_id="m", delta="Hel"),
            TextMessageContentEvent(message_id="m", delta="lo"),
        ),
        (
            ToolCallStartEvent(tool_call_id="c", tool_call_name="search"),
            ToolCallArgsEvent(tool_call_id="c", delta='{"q'),
            ToolCallArgsEvent(tool_call_id="c", delta='": 1}'),
        ),
    ],
    ids=["text", "tool-call-args"],
)
async def test_the_first_content_of_a_message_leaves_at_once(
    start: BaseEvent, first: BaseEvent, more: BaseEvent
) -> None:
    log, bodies, writing = _writing(flush_interval=60)
    async with asyncio.timeout(5):  # far below the 60 s gathering
        assert b"RUN_STARTED" in await bodies.get()
        log.put(start)  # gathered: nothing to read in it yet
        log.put(first)
        sent = await bodies.get()
        assert sent.count(b"id: ") == 2 and json.dumps(first.delta).encode() in sent
        log.put(more)  # what follows is gathered again, until the log closes
        for _ in range(10):
            await asyncio.sleep(0)
        assert bodies.empty()
        log.put(RunFinishedEvent(thread_id="t", run_id="r"))
        await writing
    assert json.dumps(more.delta).encode() in await bodies.get()


async def test_a_gathering_ends_by_itself_and_takes_the_events_that_follow() -> None:
    log, bodies, writing = _writing(flush_interval=0.02)
    async with asyncio.timeout(5):
        assert b"RUN_STARTED" in await bodies.get()  # the first frames: at once
        log.put(TextMessageStartEvent(message_id="m", role="assistant"))
        log.put(TextMessageContentEvent(message_id="m", delta="a"))
        assert b'"delta":"a"' in await bodies.get()  # a message's first content: at once
        log.put(TextMessageContentEvent(message_id="m", delta="b"))
        log.put(TextMessageEndEvent(message_id="m"))
        gathered = await bodies.get()  # the log is still open: the gathering timed out
        assert gathered.count(b"id: ") == 2 and b"TEXT_MESSAGE_END" in gathered
        log.put(RunFinishedEvent(thread_id="t", run_id="r"))
        await writing
    assert b"RUN_FINISHED" in await bodies.get() and bodies.empty()


def _writing(
    flush_interval: float,
) -> tuple[RunLog, asyncio.Queue[bytes], asyncio.Future[None]]:
    """A run's log with RUN_STARTED, and a gathering writer streaming it: the
    log, the bodies it sends (as they are sent), the writer."""
    log = RunLog()
    log.put(RunStartedEvent(thread_id="t", run_id="r"))
    bodies: asyncio.Queue[bytes] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        if message.get("body"):
            bodies.put_nowait(message["body"])

    stream = EventStream(
        RunLogSource(log), 0, keepalive=60, send_timeout=1, flush_interval=flush_interval
    )
    return log, bodies, asyncio.ensure_future(stream({"type": "http"}, receive, send))


async def test_a_cancelled_tasks_stream_ends_only_after_its_terminal_event() -> None:
    store = MemoryTaskStore()
    task = await store.create(TaskSpec(agent="a", prompt="x"))
    claimed = await store.claim_next("worker", "run-1", 30, None)
    assert claimed is not None
    lease = Lease("worker", claimed.attempt)
    started = RunStartedEvent(thread_id=task.thread_id, run_id="run-1")
    await store.append_events(task.id, lease, "run-1", [encode_event(started)])
    source = TaskLogSource(store, task.id)
    await store.cancel(task.id)  # cancelled on the board; its run is still closing
    assert not await source.finished(1)  # the terminal event is not logged yet
    finished = RunFinishedEvent(
        thread_id=task.thread_id, run_id="run-1", outcome={"type": "cancelled"}
    )
    await store.settle(task.id, lease, RunOutcome("cancelled"), [encode_event(finished)])
    assert not await source.finished(1)  # logged now, but not yet sent
    assert [json.loads(f)["type"] for f in await source.read(1)] == ["RUN_FINISHED"]
    assert await source.finished(2)
