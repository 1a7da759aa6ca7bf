"""The TaskStore contract: one suite, run against every store (memory, SQLite)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import (
    PROTOCOL_VERSION,
    BaseEvent,
    RunStartedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageStartEvent,
    ToolCallStartEvent,
)

from graphwire.runs import StoredRun, encode_event
from graphwire.tasks import (
    BaseTaskStore,
    DurableTaskStore,
    Failure,
    Lease,
    LeaseLostError,
    RunOutcome,
    TaskInputError,
    TaskNotFoundError,
    TaskQuery,
    TaskSpec,
    TaskState,
    TaskStateError,
)
from tests.tasks.conftest import FakeClock, open_store

INTERRUPT = {"id": "i1", "reason": "approval", "message": "ok?"}


def frames(*events: BaseEvent) -> list[str]:
    return [encode_event(e) for e in events]


def started(run_id: str = "r1") -> str:
    return encode_event(
        RunStartedEvent(thread_id="t", run_id=run_id, protocol_version=PROTOCOL_VERSION)
    )


async def claimed(
    store: BaseTaskStore, prompt: str = "do it", owner: str = "w1"
) -> tuple[str, Lease]:
    task = await store.create(TaskSpec(agent="a", prompt=prompt))
    got = await store.claim_next(owner, f"run-{task.id}", 30, None)
    assert got is not None
    assert got.id == task.id
    return task.id, Lease(owner, got.attempt, 30)


async def test_create_and_get(store: BaseTaskStore) -> None:
    task = await store.create(TaskSpec(agent="a", prompt="  Write a poem\nabout tea ", title=None))
    assert task.state is TaskState.QUEUED
    assert task.title == "Write a poem"
    assert task.prompt == "Write a poem\nabout tea"
    assert task.thread_id == task.id
    assert task.attempt == 0
    assert task.input_messages == (
        {"id": f"{task.id}-prompt", "role": "user", "content": "Write a poem\nabout tea"},
    )
    assert await store.get(task.id) == task


async def test_blank_prompt_and_unknown_task_are_clear_errors(store: BaseTaskStore) -> None:
    with pytest.raises(TaskInputError, match="non-blank prompt"):
        await store.create(TaskSpec(agent="a", prompt="   "))
    with pytest.raises(TaskNotFoundError):
        await store.get("nope")
    with pytest.raises(TaskNotFoundError):
        await store.cancel("nope")
    page = await store.list_tasks(TaskQuery())
    assert page.tasks == ()


async def test_messages_instead_of_a_prompt(store: BaseTaskStore) -> None:
    message = {"id": "m1", "role": "user", "content": "from messages"}
    task = await store.create(TaskSpec(agent="a", messages=[message]))
    assert task.prompt is None
    assert task.title == "from messages"
    assert task.input_messages == (message,)


async def test_list_filters_newest_first_and_pages(store: BaseTaskStore, clock: FakeClock) -> None:
    ids = []
    for n in range(7):
        clock.advance(1)
        agent = "a" if n % 2 else "b"
        parent = "p1" if n < 3 else None
        spec = TaskSpec(agent=agent, prompt=f"t{n}", parent_task_id=parent, parent_thread_id=parent)
        ids.append((await store.create(spec)).id)
    await store.cancel(ids[0])
    seen, cursor = [], None
    while True:
        page = await store.list_tasks(TaskQuery(limit=3, cursor=cursor))
        seen.extend(t.id for t in page.tasks)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ids[::-1]
    only_a = await store.list_tasks(TaskQuery(agent="a"))
    assert [t.id for t in only_a.tasks] == [ids[5], ids[3], ids[1]]
    children = await store.list_tasks(TaskQuery(parent_task_id="p1"))
    assert [t.id for t in children.tasks] == [ids[2], ids[1], ids[0]]
    by_thread = await store.list_tasks(TaskQuery(parent_thread_id="p1", limit=10))
    assert len(by_thread.tasks) == 3
    cancelled = await store.list_tasks(TaskQuery(states=frozenset({TaskState.CANCELLED})))
    assert [t.id for t in cancelled.tasks] == [ids[0]]
    with pytest.raises(TaskInputError, match="cursor"):
        await store.list_tasks(TaskQuery(cursor="garbage"))


async def test_claim_is_fifo_sets_lease_and_attempt(store: BaseTaskStore, clock: FakeClock) -> None:
    first = await store.create(TaskSpec(agent="a", prompt="one"))
    clock.advance(1)
    second = await store.create(TaskSpec(agent="b", prompt="two"))
    assert await store.claim_next("w", "r0", 30, []) is None
    got = await store.claim_next("w", "r1", 30, None)
    assert got is not None
    assert (got.id, got.state, got.attempt, got.run_ids) == (
        first.id,
        TaskState.ONGOING,
        1,
        ("r1",),
    )
    assert got.lease_owner == "w"
    assert got.lease_expires_at == clock.now + 30
    assert got.started_at == clock.now
    assert await store.claim_next("w", "r2", 30, ["a"]) is None
    got2 = await store.claim_next("w", "r2", 30, ["b"])
    assert got2 is not None
    assert got2.id == second.id
    assert await store.claim_next("w", "r3", 30, None) is None


async def test_concurrent_claims_take_each_task_once(store: BaseTaskStore) -> None:
    for n in range(10):
        await store.create(TaskSpec(agent="a", prompt=f"t{n}"))
    results = await asyncio.gather(
        *(store.claim_next(f"w{n}", f"r{n}", 30, None) for n in range(20))
    )
    got = [t.id for t in results if t is not None]
    assert len(got) == 10
    assert len(set(got)) == 10


async def test_settle_maps_outcomes(store: BaseTaskStore) -> None:
    task_id, lease = await claimed(store, "done one")
    done = await store.settle(task_id, lease, RunOutcome("done", result="42"))
    assert (done.state, done.result, done.lease_owner) == (TaskState.DONE, "42", None)
    assert done.finished_at is not None

    task_id, lease = await claimed(store, "review")
    review = await store.settle(task_id, lease, RunOutcome("review", interrupts=(INTERRUPT,)))
    assert (review.state, review.interrupts) == (TaskState.REVIEW_NEEDED, (INTERRUPT,))
    assert review.finished_at is None

    task_id, lease = await claimed(store, "fail")
    failed = await store.settle(task_id, lease, RunOutcome("failed", error=Failure("X", "boom")))
    assert (failed.state, failed.error) == (TaskState.FAILED, Failure("X", "boom"))

    task_id, lease = await claimed(store, "release")
    released = await store.settle(task_id, lease, RunOutcome("released"))
    assert (released.state, released.runnable) == (TaskState.ONGOING, True)


async def test_writes_are_fenced_by_owner_and_attempt(store: BaseTaskStore) -> None:
    task_id, lease = await claimed(store)
    for stale in (Lease("other", lease.attempt), Lease(lease.owner, lease.attempt + 1)):
        with pytest.raises(LeaseLostError):
            await store.renew_lease(task_id, stale)
        with pytest.raises(LeaseLostError):
            await store.append_events(task_id, stale, "r", [started()])
        with pytest.raises(LeaseLostError):
            await store.settle(task_id, stale, RunOutcome("done"))
    assert await store.read_events(task_id) == []
    assert (await store.get(task_id)).state is TaskState.ONGOING


async def test_cancel_wins_over_a_late_outcome(store: BaseTaskStore) -> None:
    task_id, lease = await claimed(store)
    cancelled = await store.cancel(task_id)
    assert cancelled.state is TaskState.CANCELLED
    assert cancelled.lease_owner == lease.owner  # the worker still closes its run
    await store.append_events(task_id, lease, "r", [started()])
    late = await store.settle(task_id, lease, RunOutcome("done", result="late"))
    assert (late.state, late.result, late.lease_owner) == (TaskState.CANCELLED, None, None)
    with pytest.raises(TaskStateError) as info:
        await store.cancel(task_id)
    assert info.value.details == {"state": "cancelled", "action": "cancel"}


async def test_cancelled_queued_task_is_never_claimed(store: BaseTaskStore) -> None:
    task = await store.create(TaskSpec(agent="a", prompt="x"))
    await store.cancel(task.id)
    assert await store.claim_next("w", "r", 30, None) is None


async def test_transitions_allowed_and_refused(store: BaseTaskStore) -> None:
    task_id, lease = await claimed(store)
    for action in (
        store.retry(task_id),
        store.followup(task_id, "more"),
        store.resume(task_id, []),
    ):
        with pytest.raises(TaskStateError):
            await action
    await store.cancel(task_id)
    with pytest.raises(TaskStateError, match="still stopping"):
        await store.retry(task_id)
    await store.settle(task_id, lease, RunOutcome("cancelled"))
    retried = await store.retry(task_id)
    assert (retried.state, retried.runnable, retried.finished_at) == (TaskState.QUEUED, True, None)
    lease = Lease("w", (await store.claim_next("w", "r2", 30, None) or retried).attempt)
    assert lease.attempt == 2
    done = await store.settle(task_id, lease, RunOutcome("done", result="ok"))
    with pytest.raises(TaskStateError):
        await store.retry(task_id)
    with pytest.raises(TaskInputError):
        await store.followup(task_id, "  ")
    more = await store.followup(task_id, "and now?")
    assert (more.state, more.runnable, more.result) == (TaskState.ONGOING, True, None)
    assert more.input_messages == (
        *done.input_messages,
        {"id": f"{task_id}-followup-2", "role": "user", "content": "and now?"},
    )


async def test_resume_checks_answers_and_only_one_of_two_wins(store: BaseTaskStore) -> None:
    task_id, lease = await claimed(store)
    two = (INTERRUPT, {**INTERRUPT, "id": "i2"})
    await store.settle(task_id, lease, RunOutcome("review", interrupts=two))
    answer = {"interruptId": "i1", "status": "resolved", "payload": True}
    with pytest.raises(TaskInputError) as missing:
        await store.resume(task_id, [answer])
    assert missing.value.code == "RESUME_INCOMPLETE"
    with pytest.raises(TaskInputError) as unknown:
        await store.resume(task_id, [{**answer, "interruptId": "zz"}])
    assert unknown.value.code == "UNKNOWN_INTERRUPT"
    with pytest.raises(TaskInputError, match="twice"):
        await store.resume(task_id, [answer, answer])
    both = [answer, {**answer, "interruptId": "i2"}]
    results = await asyncio.gather(
        store.resume(task_id, both), store.resume(task_id, both), return_exceptions=True
    )
    assert sum(isinstance(r, TaskStateError) for r in results) == 1
    task = await store.get(task_id)
    assert (task.state, task.resume, task.interrupts) == (TaskState.ONGOING, tuple(both), ())


async def test_event_log_is_contiguous_and_readable_after_seq(store: BaseTaskStore) -> None:
    task_id, lease = await claimed(store)
    assert await store.append_events(task_id, lease, "r1", [started(), "{}"]) == 2
    assert await store.append_events(task_id, lease, "r1", []) == 2
    assert await store.append_events(task_id, lease, "r1", ["{}"] * 3) == 5
    events = await store.read_events(task_id)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].frame == started()
    assert {e.run_id for e in events} == {"r1"}
    assert [e.seq for e in await store.read_events(task_id, 3)] == [4, 5]
    assert [e.seq for e in await store.read_events(task_id, 1, limit=2)] == [2, 3]
    with pytest.raises(TaskNotFoundError):
        await store.read_events("nope")


async def test_waits_wake_on_events_changes_and_work(store: BaseTaskStore) -> None:
    task_id, lease = await claimed(store)
    assert await store.wait_events(task_id, 0, 0.01) is False
    waiter = asyncio.create_task(store.wait_events(task_id, 0, 5))
    await asyncio.sleep(0)
    await store.append_events(task_id, lease, "r1", [started()])
    assert await waiter is True
    assert await store.wait_events(task_id, 0, 0.01) is True  # already there

    version = (await store.get(task_id)).version
    assert await store.wait_change(task_id, version, 0.01) is None
    change = asyncio.create_task(store.wait_change(task_id, version, 5))
    await asyncio.sleep(0)
    await store.cancel(task_id)
    changed = await change
    assert changed is not None
    assert changed.state is TaskState.CANCELLED

    with store.watch_work() as woken:
        assert not woken.done()
        await store.create(TaskSpec(agent="a", prompt="more"))
        async with asyncio.timeout(1):
            await woken


async def test_requeue_expired_closes_the_cut_run(store: BaseTaskStore, clock: FakeClock) -> None:
    task_id, lease = await claimed(store)
    task = await store.get(task_id)
    run_id = task.run_ids[-1]
    logged = frames(
        RunStartedEvent(thread_id="t", run_id=run_id, protocol_version=PROTOCOL_VERSION),
        StepStartedEvent(step_name="agent"),
        TextMessageStartEvent(message_id="m1"),
        TextMessageContentEvent(message_id="m1", delta="hal"),
        ToolCallStartEvent(tool_call_id="c1", tool_call_name="t", parent_message_id="m1"),
    )
    await store.append_events(task.id, lease, run_id, logged)
    clock.advance(10)
    assert await store.requeue_expired() == []
    clock.advance(30)
    [requeued] = await store.requeue_expired()
    assert (requeued.state, requeued.runnable, requeued.lease_owner) == (
        TaskState.QUEUED,
        True,
        None,
    )
    events = await store.read_events(task.id)
    assert [e.frame for e in events[:5]] == logged
    closing = [json.loads(e.frame) for e in events[5:]]
    assert [(e["type"], e.get("code")) for e in closing] == [
        ("TOOL_CALL_END", None),
        ("TEXT_MESSAGE_END", None),
        ("STEP_FINISHED", None),
        ("RUN_ERROR", "WORKER_LOST"),
    ]
    assert {e.run_id for e in events} == {run_id}
    with pytest.raises(LeaseLostError):
        await store.append_events(task.id, lease, run_id, [started()])
    again = await store.claim_next("w2", "r-next", 30, None)
    assert again is not None
    assert (again.attempt, again.run_ids) == (2, (run_id, "r-next"))


async def test_requeue_expired_leaves_ended_runs_and_cancelled_tasks(
    store: BaseTaskStore, clock: FakeClock
) -> None:
    task_id, lease = await claimed(store)
    task = await store.get(task_id)
    await store.cancel(task.id)
    clock.advance(31)
    [expired] = await store.requeue_expired()
    assert (expired.state, expired.lease_owner, expired.runnable) == (
        TaskState.CANCELLED,
        None,
        False,
    )
    assert await store.read_events(task.id) == []  # no run was logged: nothing to close
    assert lease.attempt == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_durable_store_keeps_everything_across_reopen(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path, clock: FakeClock
) -> None:
    first = await open_store(request, kind, tmp_path, clock)
    task_id, lease = await claimed(first)
    task = await first.get(task_id)
    await first.append_events(task.id, lease, "r1", [started(), "{}"])
    await first.aclose()
    again = await open_store(request, kind, tmp_path, clock)
    try:
        assert await again.get(task.id) == task
        assert [e.seq for e in await again.read_events(task.id)] == [1, 2]
    finally:
        await again.aclose()


async def test_settle_writes_the_final_events_with_the_outcome(store: BaseTaskStore) -> None:
    task_id, lease = await claimed(store)
    run_id = (await store.get(task_id)).run_ids[-1]
    await store.append_events(task_id, lease, run_id, [started(run_id)])
    with pytest.raises(LeaseLostError):
        await store.settle(task_id, Lease("zombie", 1), RunOutcome("done"), ["{}"])
    assert len(await store.read_events(task_id)) == 1  # a refused settle writes nothing
    await store.settle(task_id, lease, RunOutcome("done", result="r"), ['{"type":"X"}'])
    events = await store.read_events(task_id)
    assert [(e.seq, e.run_id, e.frame) for e in events[1:]] == [(2, run_id, '{"type":"X"}')]


async def test_list_scoped_to_a_principal(store: BaseTaskStore) -> None:
    alice = await store.create(TaskSpec(agent="a", prompt="hers", principal="alice"))
    nobody = await store.create(TaskSpec(agent="a", prompt="anyone's"))
    assert alice.principal == "alice"
    hers = await store.list_tasks(TaskQuery(principal="alice", scoped=True))
    assert [t.id for t in hers.tasks] == [alice.id]
    unowned = await store.list_tasks(TaskQuery(principal=None, scoped=True))
    assert [t.id for t in unowned.tasks] == [nobody.id]
    everyone = await store.list_tasks(TaskQuery())
    assert {t.id for t in everyone.tasks} == {alice.id, nobody.id}


async def test_a_resume_or_followup_can_name_the_next_run(store: BaseTaskStore) -> None:
    task_id, lease = await claimed(store)
    assert await store.last_seq(task_id) == 0
    await store.append_events(task_id, lease, "r", [started(), "{}"])
    assert await store.last_seq(task_id) == 2
    await store.settle(task_id, lease, RunOutcome("review", interrupts=(INTERRUPT,)))
    answer = {"interruptId": "i1", "status": "resolved", "payload": 1}
    first_run = (await store.get(task_id)).run_ids[0]
    with pytest.raises(TaskInputError, match="already exists"):
        await store.resume(task_id, [answer], run_id=first_run)
    await store.resume(task_id, [answer], run_id="client-run")
    again = await store.claim_next("w1", "generated", 30, None)
    assert again is not None
    assert again.run_ids[-1] == "client-run"
    assert again.next_run_id is None
    with pytest.raises(TaskNotFoundError):
        await store.last_seq("nope")


@pytest.fixture(params=["memory", "postgres"])
async def claims(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[BaseTaskStore]:
    """The stores that claim threads for runs (SQLite serves one process)."""
    opened = await open_store(request, request.param, tmp_path, clock)
    yield opened
    await opened.aclose()


async def test_a_thread_is_claimed_by_one_owner_until_released_or_lapsed(
    claims: Any, clock: FakeClock
) -> None:
    assert await claims.claim_thread("t", "k1", "c1", "a", 10)
    assert not await claims.claim_thread("t", "k2", "c2", "b", 10)  # a holds it
    assert await claims.claim_thread("t", "k1", "c3", "a", 10)  # its own owner takes it anew
    await claims.release_thread("t", "c1")  # the earlier claim's release: no effect
    assert not await claims.claim_thread("t", "k2", "c2", "b", 10)
    await claims.release_thread("t", "c3")
    assert await claims.claim_thread("t", "k2", "c2", "b", 10)
    clock.advance(11)  # b's lease lapses (its process died)
    assert await claims.claim_thread("t", "k4", "c4", "a", 10)


async def test_a_threads_live_claim_names_its_run(claims: Any, clock: FakeClock) -> None:
    assert await claims.claimed_run("t") is None
    assert await claims.claim_thread("t", "k1", "c1", "a", 10)
    assert await claims.claimed_run("t") == "k1"
    assert await claims.claimed_run("u") is None
    clock.advance(11)  # a died: nobody runs it
    assert await claims.claimed_run("t") is None


async def test_renewal_keeps_live_claims_and_names_lost_or_lapsed_ones(
    claims: Any, clock: FakeClock
) -> None:
    assert await claims.claim_thread("t1", "k1", "c1", "a", 10)
    assert await claims.claim_thread("t2", "k2", "c2", "a", 10)
    clock.advance(8)
    assert await claims.renew_threads("a", {"t1": "c1", "t2": "c2"}, 10) == set()
    clock.advance(8)  # 16 s after the claim: alive only thanks to the renewal
    assert not await claims.claim_thread("t1", "x", "cx", "b", 10)
    assert await claims.renew_threads("a", {"t1": "c1"}, 10) == set()
    clock.advance(3)  # t2 lapsed (b may have run it meanwhile): lost, not revived
    assert await claims.renew_threads("a", {"t1": "c1", "t2": "c2"}, 10) == {"t2"}
    assert await claims.claim_thread("t2", "kb", "cb", "b", 10)


async def test_a_cancel_request_reaches_the_holder_of_a_live_claim(
    claims: Any, clock: FakeClock
) -> None:
    asked: asyncio.Queue[str] = asyncio.Queue()
    claims.on_cancel_request(asked.put_nowait)
    assert await claims.claim_thread("t", "k1", "c1", "a", 10)
    assert await claims.request_cancel("k1")
    async with asyncio.timeout(5):  # PostgreSQL: by NOTIFY
        assert await asked.get() == "k1"
    assert not await claims.request_cancel("nobody")
    clock.advance(11)  # the holder died: nobody to ask
    assert not await claims.request_cancel("k1")
    await asyncio.sleep(0.2)  # a stray request would have arrived by now
    assert asked.empty()


async def test_a_change_in_one_postgres_store_wakes_a_waiter_of_another(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two processes' stores on one database: a waiter of one is woken by the
    other's change (NOTIFY), not by a sweep."""
    first = await open_store(request, "postgres", tmp_path)
    second = await open_store(request, "postgres", tmp_path)
    try:
        with second.watch_work() as work:
            await first.create(TaskSpec(agent="a", prompt="p"))
            async with asyncio.timeout(5):
                await work
    finally:
        await first.aclose()
        await second.aclose()


# -- foreground runs' logs (runs.RunLogs) ---------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def logs(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[DurableTaskStore]:
    """The stores that keep foreground runs' logs (they outlive the process)."""
    opened = await open_store(request, request.param, tmp_path, clock)
    assert isinstance(opened, DurableTaskStore) and opened.run_logs() is opened
    yield opened
    await opened.aclose()


def stored(last: int, *, start: int = 0, owner: str = "p1", **changes: Any) -> StoredRun:
    row = StoredRun("r1", "t", "a", None, owner, start, last, False, False, started_at=1.0)
    return dataclasses.replace(row, **changes)


def text_run(run_id: str = "r1") -> list[str]:
    """A run's first events: it opened a message and streamed into it."""
    return [
        started(run_id),
        *frames(
            TextMessageStartEvent(message_id="m1"),
            TextMessageContentEvent(message_id="m1", delta="hel"),
        ),
    ]


async def test_a_run_log_is_written_in_batches_fenced_by_its_seq(logs: DurableTaskStore) -> None:
    assert await logs.find_run("k1") is None
    first = text_run()
    assert await logs.write_run("k1", stored(3), first)
    more = frames(TextMessageContentEvent(message_id="m1", delta="lo"))
    assert not await logs.write_run("k1", stored(3), more)  # not right after seq 3
    assert not await logs.write_run("k1", stored(5), more)
    assert not await logs.write_run("k1", stored(4, owner="p2"), more)  # not its writer
    assert not await logs.write_run("k1", stored(3, owner="p2"), [])  # nor a new start
    assert await logs.write_run("k1", stored(4), more)
    assert await logs.read_run("k1", 0) == [*first, *more]
    assert await logs.read_run("k1", 2, 1) == first[2:]
    assert await logs.write_run("k1", stored(4, closed=True, interrupted=True), [])
    assert await logs.find_run("k1") == stored(4, closed=True, interrupted=True)
    assert not await logs.write_run("k1", stored(5), more)  # ended: only a resume goes on
    resumed = stored(5, start=4, owner="p2")  # CopilotKit's resume under the run's id
    assert await logs.write_run("k1", resumed, frames(StepStartedEvent(step_name="s")))
    assert await logs.write_run("k1", dataclasses.replace(resumed, closed=True), [])
    again = stored(6, start=5, owner="p3")  # it did not end interrupted: no resume
    assert not await logs.write_run("k1", again, frames(StepStartedEvent(step_name="s")))
    assert await logs.read_run("nobody", 0) == []


async def test_only_a_threads_newest_run_can_be_resumed(logs: DurableTaskStore) -> None:
    assert await logs.newest_run("t") is None
    ended = stored(3, closed=True, interrupted=True, started_at=1.0)
    assert await logs.write_run("k1", ended, text_run())
    assert await logs.newest_run("t") == "k1"
    later = dataclasses.replace(stored(1), run_id="r2", started_at=2.0)
    assert await logs.write_run("k2", later, [started("r2")])
    assert await logs.newest_run("t") == "k2"
    assert await logs.newest_run("u") is None


async def test_a_run_left_open_by_another_owner_is_closed_as_lost(logs: DurableTaskStore) -> None:
    await logs.write_run("k1", stored(3), text_run())
    await logs.close_lost_run("k1", "p1")  # its own owner: still running
    assert (await logs.find_run("k1")) == stored(3)
    await logs.close_lost_run("k1", "p2")
    ended = await logs.find_run("k1")
    assert ended is not None and ended.closed and ended.last_seq == 5
    closing = [json.loads(f) for f in await logs.read_run("k1", 3)]
    assert [e["type"] for e in closing] == ["TEXT_MESSAGE_END", "RUN_ERROR"]
    assert closing[1]["code"] == "WORKER_LOST"
    assert not await logs.write_run("k1", stored(4), ["late"])  # the lost writer is fenced
    await logs.close_lost_run("k1", "p2")  # closed once
    assert len(await logs.read_run("k1", 0)) == 5


async def test_a_run_whose_thread_claim_lives_is_not_lost(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> None:
    """PostgreSQL: the store that claims threads and keeps run logs."""
    claims = await open_store(request, "postgres", tmp_path, clock)
    try:
        await _a_claimed_run_is_not_lost(claims, clock)
    finally:
        await claims.aclose()


async def _a_claimed_run_is_not_lost(claims: Any, clock: FakeClock) -> None:
    await claims.write_run("k1", stored(3), text_run())
    assert await claims.claim_thread("t", "k1", "c1", "p1", 10)
    await claims.close_lost_run("k1", "p2")  # another process: but p1's claim lives
    assert await claims.find_run("k1") == stored(3)
    # p1 started the thread's next run: k1's end is on its way from p1.
    assert await claims.claim_thread("t", "k2", "c2", "p1", 10)
    await claims.close_lost_run("k1", "p2")
    assert await claims.find_run("k1") == stored(3)
    clock.advance(11)  # p1 died: its claim lapsed
    await claims.close_lost_run("k1", "p2")
    ended = await claims.find_run("k1")
    assert ended is not None and ended.closed


async def test_a_reader_waits_for_a_run_logs_next_batch(logs: DurableTaskStore) -> None:
    await logs.write_run("k1", stored(1), [started()])
    assert not await logs.wait_run("k1", 1, 0.05)

    async def later() -> None:
        await asyncio.sleep(0.05)
        await logs.write_run("k1", stored(2), frames(StepStartedEvent(step_name="s")))

    writer = asyncio.create_task(later())
    async with asyncio.timeout(5):
        assert await logs.wait_run("k1", 1, 5)
    await writer


async def test_a_run_log_written_in_one_postgres_store_wakes_a_reader_of_another(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    first = await open_store(request, "postgres", tmp_path)
    second = await open_store(request, "postgres", tmp_path)
    try:
        await first.write_run("k1", stored(1), [started()])
        waiting = asyncio.create_task(second.wait_run("k1", 1, 5))
        await asyncio.sleep(0.05)
        await first.write_run("k1", stored(2), frames(StepStartedEvent(step_name="s")))
        async with asyncio.timeout(2):  # by NOTIFY, well before the wait's timeout
            assert await waiting
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_thread_keeps_the_logs_of_its_newest_runs(logs: DurableTaskStore) -> None:
    logs.kept_runs = 2  # besides the newest
    for n in range(1, 5):  # four runs of thread t, one after another
        run = dataclasses.replace(stored(1), run_id=f"r{n}", started_at=float(n))
        assert await logs.write_run(f"k{n}", run, [started(f"r{n}")])
        assert await logs.write_run(f"k{n}", dataclasses.replace(run, closed=True), [])
    kept = {n: getattr(await logs.find_run(f"k{n}"), "kept", None) for n in range(1, 5)}
    assert kept == {1: False, 2: True, 3: True, 4: True}
    assert await logs.read_run("k1", 0) == []  # its row stays: re-attach says it expired
    assert await logs.read_run("k2", 0) == [started("r2")]
    other = dataclasses.replace(stored(1), thread_key="u", started_at=9.0)
    assert await logs.write_run("x1", other, [started()])  # another thread's runs stay
    assert (await logs.read_run("k2", 0)) == [started("r2")]
