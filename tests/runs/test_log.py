"""The run log: seqs, waiting, and content deltas merged while nobody has read them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from ag_ui.core import (
    ActivitySnapshotEvent,
    BaseEvent,
    ReasoningMessageContentEvent,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
)
from hypothesis import given
from hypothesis import strategies as st

from graphwire.runs import Frames, GraphRun, RunLog
from tests.graphs import Collected, agent_graph, user_input


def text(delta: str, message: str = "m1", **extra: Any) -> TextMessageContentEvent:
    return TextMessageContentEvent(message_id=message, delta=delta, **extra)


def decoded(frames: list[str]) -> list[dict[str, Any]]:
    return [json.loads(f) for f in frames]


def test_unread_deltas_of_one_message_merge_into_one_event() -> None:
    log = RunLog()
    log.put(RunStartedEvent(thread_id="t", run_id="r"))
    log.put(TextMessageStartEvent(message_id="m1", role="assistant"))
    seqs = []
    for delta in ("Hel", "lo", "!"):
        log.put(text(delta))
        seqs.append(log.last_seq)
    log.put(TextMessageEndEvent(message_id="m1"))
    assert seqs == [3, 3, 3] and log.last_seq == 4
    events = decoded(log.after(0))
    assert [e["type"] for e in events] == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
    ]
    assert events[2] == {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m1", "delta": "Hello!"}


def test_what_a_reader_has_seen_never_changes() -> None:
    log = RunLog()
    log.put(text("a"))
    seen = log.after(0)
    log.put(text("b"))
    assert log.after(0)[: len(seen)] == seen
    assert [e["delta"] for e in decoded(log.after(0))] == ["a", "b"]
    assert log.last_seq == 2


def test_only_deltas_of_the_same_target_and_kind_merge() -> None:
    batch = Frames()
    events: list[BaseEvent] = [
        text("a", "m1"),
        text("b", "m2"),
        ReasoningMessageContentEvent(message_id="m2", delta="c"),
        ToolCallArgsEvent(tool_call_id="t1", delta='{"x"'),
        ToolCallArgsEvent(tool_call_id="t1", delta=": 1}"),
        text("d", "m2"),
        text("e", "m2", timestamp=5),
        text("f", "m2", subagent_run_id="sub"),
        text("g", "m2", subagent_run_id="sub"),
    ]
    opened = [batch.put(e) for e in events]
    assert opened == [True, True, True, True, False, True, True, True, False]
    assert len(batch) == 7
    out = decoded(batch.take())
    assert [e["delta"] for e in out] == ["a", "b", "c", '{"x": 1}', "d", "e", "fg"]
    assert out[5]["timestamp"] == 5 and out[6]["subagentRunId"] == "sub"
    assert batch.take() == [] and len(batch) == 0


async def test_a_waiter_wakes_for_the_first_event_and_for_the_end() -> None:
    log = RunLog()
    assert not await log.wait(0, 0.01)
    waiter = asyncio.ensure_future(log.wait(0, 5))
    await asyncio.sleep(0)
    log.put(text("a"))
    assert await waiter
    finished = asyncio.ensure_future(log.wait(1, 5))
    await asyncio.sleep(0)
    log.put(RunFinishedEvent(thread_id="t", run_id="r"))
    assert await finished and log.closed


async def test_a_gathering_waiter_wakes_after_its_gathering_or_at_the_end() -> None:
    log = RunLog()
    async with asyncio.timeout(5):
        short = asyncio.ensure_future(log.wait(0, 5, gather=0.01))
        await asyncio.sleep(0)
        log.put(text("a"))
        assert await short and not log.closed  # woken by its gathering's end
        long = asyncio.ensure_future(log.wait(1, 5, gather=60))
        await asyncio.sleep(0)
        log.put(TextMessageEndEvent(message_id="m1"))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not long.done()  # gathering what follows
        log.put(RunFinishedEvent(thread_id="t", run_id="r"))
        assert await long  # the end cuts it short


async def test_each_wait_times_out_on_its_own_deadline_with_one_timer_per_log() -> None:
    log = RunLog()
    async with asyncio.timeout(5):
        long = asyncio.ensure_future(log.wait(0, 60))
        await asyncio.sleep(0)
        assert not await log.wait(0, 0.01)  # earlier than the armed timeout: still kept
        assert not long.done()
        log.put(text("a"))
        assert await long
        # The log's timer is still armed for the ended wait; it re-arms for this one.
        assert not await log.wait(1, 0.02)


async def test_a_reader_that_went_away_is_dropped_and_the_next_one_is_woken() -> None:
    log = RunLog()
    async with asyncio.timeout(5):
        gone = asyncio.ensure_future(log.wait(0, 60))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        stays = asyncio.ensure_future(log.wait(0, 60, gather=0.01))
        await asyncio.sleep(0)
        log.put(text("a"))
        assert await stays


Step = tuple[str, int] | None  # a delta for message/tool call ("kind", target) or a read


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.tuples(st.sampled_from(["text", "args"]), st.integers(0, 2)),
        ),
        max_size=60,
    )
)
def test_merging_keeps_every_delta_in_order_and_read_frames_stable(steps: list[Step]) -> None:
    log = RunLog()
    sent: dict[tuple[str, int], str] = {}
    snapshots: list[list[str]] = []
    for n, step in enumerate(steps):
        if step is None:
            snapshots.append(list(log.after(0)))
            continue
        kind, target = step
        delta = f"<{n}>"
        sent[step] = sent.get(step, "") + delta
        event: BaseEvent = (
            text(delta, f"m{target}")
            if kind == "text"
            else ToolCallArgsEvent(tool_call_id=f"m{target}", delta=delta)
        )
        log.put(event)
    final = log.after(0)
    for snapshot in snapshots:
        assert final[: len(snapshot)] == snapshot
    reads = {len(snapshot) for snapshot in snapshots}
    got: dict[tuple[str, int], str] = {}
    previous: tuple[str, int] | None = None
    for index, event in enumerate(decoded(final)):
        kind = "text" if event["type"] == "TEXT_MESSAGE_CONTENT" else "args"
        key = (kind, int(event.get("messageId", event.get("toolCallId", ""))[1:]))
        # Two frames in a row for one target only when a read came between them.
        assert key != previous or index in reads
        got[key] = got.get(key, "") + event["delta"]
        previous = key
    assert got == sent
    assert len(final) == log.last_seq


def test_put_delta_adds_its_event_again_with_a_new_delta() -> None:
    batch = Frames()
    args = ToolCallArgsEvent(tool_call_id="c1", delta='{"a"', subagent_run_id="s")
    batch.put(args)
    batch.put_delta(args, ": 1")
    first = batch.take()
    batch.put_delta(args, ", ")
    batch.put_delta(args, '"b": 2}')
    frames = decoded(first + batch.take())
    assert frames[0] == {
        "type": "TOOL_CALL_ARGS",
        "toolCallId": "c1",
        "delta": '{"a": 1',
        "subagentRunId": "s",
    }
    assert frames[1]["delta"] == ', "b": 2}' and len(frames) == 2


def test_another_writers_event_between_a_delta_and_the_next_token_keeps_both() -> None:
    # A task's activity lands in the delegating run's log mid-answer.
    log = RunLog()
    hi = text("Hi")
    log.put(hi)
    log.put(ActivitySnapshotEvent(message_id="task-1", activity_type="t", content={}))
    log.put_delta(hi, " there")
    log.put_delta(hi, "!")
    frames = decoded(log.after(0))
    assert [(f["type"], f.get("delta")) for f in frames] == [
        ("TEXT_MESSAGE_CONTENT", "Hi"),
        ("ACTIVITY_SNAPSHOT", None),
        ("TEXT_MESSAGE_CONTENT", " there!"),
    ]


async def test_a_sink_with_put_alone_gets_every_event_mapped() -> None:
    """``put`` is the whole public sink: the hot path is for sinks that take deltas."""

    class PutOnly:
        def __init__(self) -> None:
            self.events: list[BaseEvent] = []

        def put(self, event: BaseEvent) -> None:
            self.events.append(event)

    plain, fast = PutOnly(), Collected()
    await GraphRun(agent_graph(["one two three four"]), user_input()).run(plain)
    await GraphRun(agent_graph(["one two three four"]), user_input()).run(fast)

    def shape(events: list[BaseEvent]) -> list[tuple[str, str | None]]:
        return [(e.type, getattr(e, "delta", None)) for e in events]

    deltas = [d for t, d in shape(plain.events) if t == "TEXT_MESSAGE_CONTENT"]
    assert shape(plain.events) == shape(fast) and len(deltas) > 2
