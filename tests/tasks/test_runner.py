"""The TaskRunner end to end on fake-model graphs, on every store."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import PROTOCOL_VERSION, RunErrorEvent, RunFinishedEvent, RunStartedEvent
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.pregel import Pregel
from langgraph.types import interrupt
from pydantic import TypeAdapter

from graphwire.protocol import StoreUnavailableError
from graphwire.runs import encode_event
from graphwire.tasks import (
    BaseTaskStore,
    Lease,
    LeaseLostError,
    MemoryTaskStore,
    RunnerOptions,
    SqliteTaskStore,
    Task,
    TaskInputError,
    TaskRunner,
    TaskSpec,
    TaskState,
    TaskStateError,
    TaskStore,
)
from graphwire.tasks._execution import GROUP_COMMIT_SECONDS, EventWriter
from graphwire.testing import ScriptedChatModel
from tests.tasks.conftest import STORES, FakeClock, open_store
from tests.tasks.graphs import Flaky, Slow, chat_graph, kinds, logged_runs, review_graph

RunnerFactory = Callable[..., Any]
ROW = TypeAdapter(Task)
"""A task as its store's row holds it."""


@pytest.fixture(params=STORES)
def make_runner(request: pytest.FixtureRequest, tmp_path: Path) -> RunnerFactory:
    @asynccontextmanager
    async def make(
        agents: Mapping[str, Pregel[Any, Any]], **options: Any
    ) -> AsyncIterator[TaskRunner]:
        store: TaskStore = await open_store(request, request.param, tmp_path)
        try:
            async with TaskRunner(store, agents, RunnerOptions(**options)) as runner:
                yield runner
        finally:
            await store.aclose()

    return make


async def settled(runner: TaskRunner, task: Task) -> Task:
    return await runner.wait_settled(task.id, 10)


async def test_enqueue_to_done_with_result(make_runner: RunnerFactory) -> None:
    async with make_runner({"echo": chat_graph()}) as runner:
        task = await runner.enqueue(
            TaskSpec(agent="echo", prompt="summarise the report", parent_run_id="parent-run")
        )
        assert task.state is TaskState.QUEUED
        done = await settled(runner, task)
        assert (done.state, done.result) == (TaskState.DONE, "turn 1: summarise the report")
        assert (done.attempt, len(done.run_ids), done.error) == (1, 1, None)
        assert done.started_at is not None
        assert done.finished_at is not None
        [run] = await logged_runs(runner.store, task.id)
        start = run[0]
        assert isinstance(start, RunStartedEvent)
        assert (start.thread_id, start.run_id, start.parent_run_id) == (
            task.thread_id,
            done.run_ids[0],
            "parent-run",
        )
        assert isinstance(run[-1], RunFinishedEvent)
        assert run[-1].outcome is not None
        assert run[-1].outcome.type == "success"


async def test_bad_enqueue_is_a_clear_error(make_runner: RunnerFactory) -> None:
    async with make_runner({"echo": chat_graph()}) as runner:
        with pytest.raises(TaskInputError, match="non-blank"):
            await runner.enqueue(TaskSpec(agent="echo", prompt=" "))
        with pytest.raises(TaskInputError, match="unknown agent"):
            await runner.enqueue(TaskSpec(agent="nobody", prompt="x"))


async def test_failure_then_retry_continues_from_the_checkpoint(
    make_runner: RunnerFactory,
) -> None:
    flaky = Flaky()
    async with make_runner({"flaky": flaky.graph()}) as runner:
        task = await runner.enqueue(TaskSpec(agent="flaky", prompt="go"))
        failed = await settled(runner, task)
        assert failed.state is TaskState.FAILED
        assert failed.error is not None
        assert failed.error.code == "AGENT_ERROR"
        assert "RuntimeError" in failed.error.message
        flaky.failing = False
        await runner.retry(task.id)
        done = await settled(runner, task)
        assert (done.state, done.result, done.attempt) == (TaskState.DONE, "worked", 2)
        assert flaky.prepared[task.thread_id] == 1  # the node before the failure did not rerun
        first, second = await logged_runs(runner.store, task.id)
        assert isinstance(first[-1], RunErrorEvent)
        assert isinstance(second[-1], RunFinishedEvent)
        with pytest.raises(TaskStateError, match="retry"):
            await runner.retry(task.id)


async def test_interrupt_review_then_resume(make_runner: RunnerFactory) -> None:
    async with make_runner({"review": review_graph()}) as runner:
        task = await runner.enqueue(TaskSpec(agent="review", prompt="deploy"))
        review = await settled(runner, task)
        assert review.state is TaskState.REVIEW_NEEDED
        [pending] = review.interrupts
        assert pending["metadata"] == {"payload": {"question": "ship it?"}}
        assert pending["message"] == "ship it?"
        answer = [{"interruptId": pending["id"], "status": "resolved", "payload": "yes"}]
        await runner.resume(task.id, answer)
        done = await settled(runner, task)
        assert (done.state, done.result, done.interrupts) == (TaskState.DONE, "approved: yes", ())
        first, second = await logged_runs(runner.store, task.id)
        assert isinstance(first[-1], RunFinishedEvent)
        assert first[-1].outcome is not None
        assert first[-1].outcome.type == "interrupt"
        assert isinstance(second[-1], RunFinishedEvent)
        assert second[-1].outcome is not None
        assert second[-1].outcome.type == "success"


async def test_a_rerun_after_the_answer_was_consumed_does_not_send_it_again(
    make_runner: RunnerFactory,
) -> None:
    answered: list[str] = []
    failures = [StoreUnavailableError("the database cannot be used now: disk I/O error")]

    def ask(state: MessagesState) -> dict[str, Any]:
        answered.append(interrupt({"question": "ship it?"}))
        return {}

    def ship(state: MessagesState) -> dict[str, Any]:
        if failures:  # the store fails after the answer reached the checkpoint
            raise failures.pop()
        return {"messages": [AIMessage(f"shipped: {answered[-1]}", id="shipped")]}

    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask)
    builder.add_node("ship", ship)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "ship")
    graph = builder.compile(checkpointer=InMemorySaver())
    async with make_runner({"review": graph}) as runner:
        task = await runner.enqueue(TaskSpec(agent="review", prompt="deploy"))
        [pending] = (await settled(runner, task)).interrupts
        answer = [{"interruptId": pending["id"], "status": "resolved", "payload": "yes"}]
        await runner.resume(task.id, answer)
        async with asyncio.timeout(10):
            while (done := await runner.get(task.id)).state is not TaskState.DONE:
                assert done.state is not TaskState.FAILED, done.error
                await asyncio.sleep(0.02)
    # The rerun continued from the checkpoint: the answer was not sent again
    # (it would name an interrupt nobody waits for) and the code after
    # interrupt() ran once.
    assert (done.result, answered, len(done.run_ids)) == ("shipped: yes", ["yes"], 3)


async def test_a_task_row_keeps_no_input_its_runs_delivered(make_runner: RunnerFactory) -> None:
    graph = chat_graph(ScriptedChatModel(script=["noted"] * 7))
    async with make_runner({"echo": graph}) as runner:
        task = await runner.enqueue(TaskSpec(agent="echo", prompt="first"))
        sizes = [len(ROW.dump_json(await settled(runner, task)))]
        for n in range(6):
            await runner.followup(task.id, f"follow-up {n} " + "x" * 2_000)
            done = await settled(runner, task)
            sizes.append(len(ROW.dump_json(done)))
        state = await graph.aget_state({"configurable": {"thread_id": task.thread_id}})
    assert done.input_messages == ()  # delivered: the thread holds them
    assert len(state.values["messages"]) == 14
    assert max(sizes) - min(sizes) < 1_000  # a run id more per run, not the messages


async def test_concurrent_double_resume_runs_once(make_runner: RunnerFactory) -> None:
    async with make_runner({"review": review_graph()}) as runner:
        task = await runner.enqueue(TaskSpec(agent="review", prompt="deploy"))
        review = await settled(runner, task)
        answer = [{"interruptId": review.interrupts[0]["id"], "status": "resolved", "payload": 1}]
        results = await asyncio.gather(
            runner.resume(task.id, answer), runner.resume(task.id, answer), return_exceptions=True
        )
        assert sum(isinstance(r, TaskStateError) for r in results) == 1
        assert sum(isinstance(r, Task) for r in results) == 1
        done = await settled(runner, task)
        assert done.state is TaskState.DONE
        assert len(await logged_runs(runner.store, task.id)) == 2


async def test_cancel_queued_task_never_runs(make_runner: RunnerFactory) -> None:
    slow = Slow()
    graphs = {"slow": slow.graph(), "echo": chat_graph()}
    async with make_runner(graphs, workers=1) as runner:
        blocker = await runner.enqueue(TaskSpec(agent="slow", prompt="hold the worker"))
        await asyncio.wait_for(slow.started.wait(), 5)
        queued = await runner.enqueue(TaskSpec(agent="echo", prompt="never"))
        cancelled = await runner.cancel(queued.id)
        assert cancelled.state is TaskState.CANCELLED
        slow.release.set()
        assert (await settled(runner, blocker)).state is TaskState.DONE
        assert (await runner.get(queued.id)).state is TaskState.CANCELLED
        assert await runner.store.read_events(queued.id) == []
        assert graphs["echo"].calls == {}  # type: ignore[attr-defined]


async def test_cancel_ongoing_stops_the_graph(make_runner: RunnerFactory) -> None:
    slow = Slow()
    async with make_runner({"slow": slow.graph()}) as runner:
        task = await runner.enqueue(TaskSpec(agent="slow", prompt="wait"))
        await asyncio.wait_for(slow.started.wait(), 5)
        await runner.cancel(task.id)
        done = await settled(runner, task)
        assert (done.state, done.lease_owner) == (TaskState.CANCELLED, None)
        assert slow.cancelled == 1
        [run] = await logged_runs(runner.store, task.id)
        assert isinstance(run[-1], RunFinishedEvent)
        assert run[-1].outcome is not None
        assert run[-1].outcome.type == "cancelled"


async def test_cancel_racing_the_claim(make_runner: RunnerFactory) -> None:
    rng = random.Random(7)
    async with make_runner({"echo": chat_graph()}, workers=2) as runner:
        for _ in range(40):
            task = await runner.enqueue(TaskSpec(agent="echo", prompt="race"))
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            try:
                await runner.cancel(task.id)
            except TaskStateError:
                assert (await settled(runner, task)).state is TaskState.DONE
                continue
            final = await settled(runner, task)
            assert (final.state, final.result) == (TaskState.CANCELLED, None)
            runs = await logged_runs(runner.store, task.id)
            assert len(runs) <= 1
            for run in runs:
                assert isinstance(run[-1], RunFinishedEvent)


async def test_followup_remembers_the_thread(make_runner: RunnerFactory) -> None:
    async with make_runner({"echo": chat_graph()}) as runner:
        task = await runner.enqueue(TaskSpec(agent="echo", prompt="count apples"))
        await settled(runner, task)
        await runner.followup(task.id, "now pears")
        again = await settled(runner, task)
        assert again.result == "turn 2: count apples / now pears"
        assert len(await logged_runs(runner.store, task.id)) == 2


async def test_hundred_tasks_four_workers_each_once(make_runner: RunnerFactory) -> None:
    graph = chat_graph()
    async with make_runner({"echo": graph}, workers=4) as runner:
        tasks = [await runner.enqueue(TaskSpec(agent="echo", prompt=f"n{n}")) for n in range(100)]
        results = [await settled(runner, t) for t in tasks]
        assert {r.state for r in results} == {TaskState.DONE}
        assert all(r.attempt == 1 for r in results)
        assert graph.calls == {t.thread_id: 1 for t in tasks}  # type: ignore[attr-defined]


async def test_tree_and_cascading_cancel(make_runner: RunnerFactory) -> None:
    slow = Slow()
    async with make_runner({"slow": slow.graph()}, workers=4) as runner:
        root = await runner.enqueue(TaskSpec(agent="slow", prompt="root"))
        child = await runner.enqueue(TaskSpec(agent="slow", prompt="c", parent_task_id=root.id))
        leaf = await runner.enqueue(TaskSpec(agent="slow", prompt="l", parent_task_id=child.id))
        other = await runner.enqueue(TaskSpec(agent="slow", prompt="unrelated"))
        await runner.cancel(root.id)
        for task in (root, child, leaf):
            assert (await settled(runner, task)).state is TaskState.CANCELLED
        assert (await runner.get(other.id)).state in {TaskState.QUEUED, TaskState.ONGOING}
        late = await runner.enqueue(TaskSpec(agent="slow", prompt="late", parent_task_id=root.id))
        assert late.state is TaskState.CANCELLED  # a cancelled parent takes no new children
        slow.release.set()
        assert (await settled(runner, other)).state is TaskState.DONE


async def test_per_task_timeout(make_runner: RunnerFactory) -> None:
    slow = Slow()
    async with make_runner({"slow": slow.graph()}, task_timeout=0.2) as runner:
        task = await runner.enqueue(TaskSpec(agent="slow", prompt="too long"))
        failed = await settled(runner, task)
        assert failed.state is TaskState.FAILED
        assert failed.error is not None
        assert failed.error.code == "TASK_TIMEOUT"
        [run] = await logged_runs(runner.store, task.id)
        assert isinstance(run[-1], RunErrorEvent)
        assert run[-1].code == "TASK_TIMEOUT"
        assert slow.cancelled == 1


async def test_concurrency_limit_per_agent(make_runner: RunnerFactory) -> None:
    slow = Slow()
    graphs = {"slow": slow.graph(), "echo": chat_graph()}
    async with make_runner(graphs, workers=4, concurrency={"slow": 1}) as runner:
        held = [await runner.enqueue(TaskSpec(agent="slow", prompt=f"s{n}")) for n in range(3)]
        await asyncio.wait_for(slow.started.wait(), 5)
        quick = await runner.enqueue(TaskSpec(agent="echo", prompt="not blocked"))
        assert (await settled(runner, quick)).state is TaskState.DONE
        assert [(await runner.get(t.id)).state for t in held].count(TaskState.ONGOING) == 1
        slow.release.set()
        for task in held:
            assert (await settled(runner, task)).state is TaskState.DONE
        assert slow.most_at_once == 1


async def test_stopping_hands_running_tasks_back(tmp_path: Path) -> None:
    slow = Slow()
    store = await SqliteTaskStore.open(tmp_path / "tasks.sqlite")
    graph = slow.graph()
    try:
        async with TaskRunner(store, {"slow": graph}) as runner:
            task = await runner.enqueue(TaskSpec(agent="slow", prompt="long job"))
            await asyncio.wait_for(slow.started.wait(), 5)
        stopped = await store.get(task.id)
        assert (stopped.state, stopped.runnable) == (TaskState.ONGOING, True)
        slow.release.set()
        async with TaskRunner(store, {"slow": graph}) as runner:
            done = await settled(runner, task)
        assert (done.state, done.attempt) == (TaskState.DONE, 2)
        first, second = await logged_runs(store, task.id)
        assert isinstance(first[-1], RunErrorEvent)
        assert first[-1].code == "WORKER_STOPPED"
        assert kinds(second)[-1] == "RUN_FINISHED"
    finally:
        await store.aclose()


async def tail(store: TaskStore, task_id: str) -> list[int]:
    """Replay then live tail, one path: read after the last seq, wait for more."""
    seqs: list[int] = []
    while True:
        seqs.extend(e.seq for e in await store.read_events(task_id, seqs[-1] if seqs else 0))
        task = await store.get(task_id)
        if task.state is TaskState.DONE and task.lease_owner is None:
            seqs.extend(e.seq for e in await store.read_events(task_id, seqs[-1] if seqs else 0))
            return seqs
        await store.wait_events(task_id, seqs[-1] if seqs else 0, 5)


async def test_a_live_tail_sees_every_event_once(make_runner: RunnerFactory) -> None:
    slow = Slow()
    async with make_runner({"slow": slow.graph()}) as runner:
        task = await runner.enqueue(TaskSpec(agent="slow", prompt="watch me"))
        watcher = asyncio.create_task(tail(runner.store, task.id))
        await asyncio.wait_for(slow.started.wait(), 5)
        async with asyncio.timeout(5):  # the first events are written while the run waits
            while (logged := await runner.store.last_seq(task.id)) < 3:
                await runner.store.wait_events(task.id, logged, 1)
        slow.release.set()
        seqs = await asyncio.wait_for(watcher, 10)
        assert seqs == [e.seq for e in await runner.store.read_events(task.id)]
        assert seqs == list(range(1, len(seqs) + 1))


async def test_a_terminal_event_is_logged_only_with_its_outcome() -> None:
    """A batch written before the outcome must not hold the terminal event: a
    crash between the two would leave a finished run on a task that runs again
    (seen as two RUN_FINISHED in the SIGKILL test)."""
    store = MemoryTaskStore()
    created = await store.create(TaskSpec(agent="echo", prompt="hi"))
    task = await store.claim_next("here", "run-1", 30, None)
    assert task is not None
    lease = Lease("here", task.attempt, 30)
    writer = EventWriter(store, task.id, lease, "run-1")
    writer.put(RunStartedEvent(thread_id=task.thread_id, run_id="run-1"))
    writer.put(RunFinishedEvent(thread_id=task.thread_id, run_id="run-1"))
    await asyncio.sleep(GROUP_COMMIT_SECONDS * 5)  # a batch timer, had one been left, fired
    assert await store.read_events(created.id) == []
    rest = await writer.close()
    assert [json.loads(frame)["type"] for frame in rest] == ["RUN_STARTED", "RUN_FINISHED"]


async def test_leases_are_renewed_while_a_task_runs(make_runner: RunnerFactory) -> None:
    slow = Slow()
    async with make_runner({"slow": slow.graph()}, lease_seconds=0.6) as runner:
        task = await runner.enqueue(TaskSpec(agent="slow", prompt="longer than a lease"))
        await asyncio.wait_for(slow.started.wait(), 5)
        await asyncio.sleep(1.8)  # three leases long: the sweeper runs every 0.3 s
        running = await runner.get(task.id)
        assert (running.state, running.attempt) == (TaskState.ONGOING, 1)
        slow.release.set()
        done = await settled(runner, task)
        assert (done.state, done.attempt, len(done.run_ids)) == (TaskState.DONE, 1, 1)


class _FlakyRenewals(MemoryTaskStore):
    """A store whose first lease renewals fail as a locked database does."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def renew_lease(self, task_id: str, lease: Lease) -> Task:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailableError("the database cannot be used now: database is locked")
        return await super().renew_lease(task_id, lease)


async def test_a_renewal_that_fails_for_a_moment_is_retried_not_given_up() -> None:
    slow, store = Slow(), _FlakyRenewals(failures=3)
    async with TaskRunner(
        store, {"slow": slow.graph()}, RunnerOptions(lease_seconds=0.6)
    ) as runner:
        task = await runner.enqueue(TaskSpec(agent="slow", prompt="through a locked moment"))
        await asyncio.wait_for(slow.started.wait(), 5)
        async with asyncio.timeout(5):
            while store.failures:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # renewed since: the lease holds
        slow.release.set()
        done = await settled(runner, task)
    assert (done.state, done.attempt, len(done.run_ids)) == (TaskState.DONE, 1, 1)
    assert slow.cancelled == 0


async def test_a_renewal_that_keeps_failing_gives_the_task_up_within_its_lease() -> None:
    slow, store = Slow(), _FlakyRenewals(failures=1_000)
    async with TaskRunner(store, {"slow": slow.graph()}, RunnerOptions(lease_seconds=0.6)):
        await store.create(TaskSpec(agent="slow", prompt="the store stays locked"))
        await asyncio.wait_for(slow.started.wait(), 5)
        async with asyncio.timeout(5):  # given up, so no two attempts run at once
            while not slow.cancelled:
                await asyncio.sleep(0.05)
    assert slow.most_at_once == 1


class _FailingClaims(MemoryTaskStore):
    """A store whose first claims fail as a role whose rights were revoked does."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def claim_next(
        self, owner: str, run_id: str, lease_seconds: float, agents: Collection[str] | None
    ) -> Task | None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("permission denied for table graphwire_tasks")
        return await super().claim_next(owner, run_id, lease_seconds, agents)


async def test_a_claim_that_fails_in_any_way_leaves_the_workers_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _FailingClaims(failures=8)
    async with TaskRunner(store, {"chat": chat_graph()}, RunnerOptions(workers=2)) as runner:
        async with asyncio.timeout(10):
            while store.failures:
                await asyncio.sleep(0.05)
        task = await runner.enqueue(TaskSpec(agent="chat", prompt="after the grant"))
        done = await settled(runner, task)
    assert done.state is TaskState.DONE
    assert "claiming a task failed" in caplog.text and "permission denied" in caplog.text


async def test_a_dead_workers_task_is_requeued_periodically(
    store: BaseTaskStore, clock: FakeClock
) -> None:
    queued = await store.create(TaskSpec(agent="echo", prompt="orphan"))
    dead = await store.claim_next("dead-process", "run-dead", 30, None)
    assert dead is not None
    assert dead.id == queued.id
    zombie = Lease("dead-process", dead.attempt)
    await store.append_events(dead.id, zombie, "run-dead", [started_frame(dead)])
    async with TaskRunner(store, {"echo": chat_graph()}, RunnerOptions(lease_seconds=0.4)):
        await asyncio.sleep(0.3)  # the start-up sweep found nothing expired yet
        assert (await store.get(dead.id)).lease_owner == "dead-process"
        clock.advance(31)  # now the dead process's lease has run out
        done = await store.wait_change(dead.id, dead.version, 5)
        async with asyncio.timeout(10):
            while done is None or done.state is not TaskState.DONE:
                done = await store.wait_change(dead.id, (done or dead).version, 5)
    assert done.attempt == 2
    with pytest.raises(LeaseLostError):
        await store.append_events(dead.id, zombie, "run-dead", ["{}"])
    cut, rerun = await logged_runs(store, dead.id)
    assert isinstance(cut[-1], RunErrorEvent)
    assert cut[-1].code == "WORKER_LOST"
    assert kinds(rerun)[-1] == "RUN_FINISHED"


def started_frame(task: Task) -> str:
    return encode_event(
        RunStartedEvent(
            thread_id=task.thread_id, run_id=task.run_ids[-1], protocol_version=PROTOCOL_VERSION
        )
    )
