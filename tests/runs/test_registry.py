"""The run registry: ownership of background runs, cancel, per-thread exclusivity."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import (
    ResumeEntry,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
)
from langgraph.checkpoint.memory import InMemorySaver

import graphwire.runs._durable as durable
import graphwire.runs._registry as registry_module
from graphwire.protocol import StoreUnavailableError
from graphwire.runs import (
    RunEndedError,
    RunExistsError,
    RunExpiredError,
    RunLog,
    RunLogs,
    RunNotFoundError,
    RunRecord,
    RunRegistry,
    StoredLog,
    StoredRun,
    ThreadBusyError,
    thread_key,
)
from graphwire.server import with_checkpointer
from graphwire.tasks import MemoryTaskStore, PostgresTaskStore, SqliteTaskStore
from tests.graphs import agent_graph, user_input
from tests.runs.test_dropin import approval_graph
from tests.server.agents import slow_graph


def types(registry: RunRegistry, run_id: str) -> list[str]:
    return [json.loads(f)["type"] for f in registry.get(run_id).log.after(0)]


async def test_cancel_before_the_run_task_starts_still_stops_it() -> None:
    finished: list[str] = []
    registry = RunRegistry()
    registry.start(slow_graph(finished), user_input(), agent="a", thread_key="t1")
    # RUN_STARTED is logged before the run's task first runs: a stream opened
    # now sends it at once.
    assert types(registry, "r1") == ["RUN_STARTED"]
    registry.cancel("r1")
    await asyncio.sleep(0.2)
    assert types(registry, "r1") == ["RUN_STARTED", "RUN_FINISHED"]
    assert json.loads(registry.get("r1").log.after(1)[0])["outcome"] == {"type": "cancelled"}
    assert finished == []
    assert registry.active_run_for("t1") is None


async def test_thread_exclusivity_and_cancel_errors() -> None:
    registry = RunRegistry()
    registry.start(slow_graph([]), user_input(), agent="a", thread_key="t1")
    with pytest.raises(ThreadBusyError):
        registry.start(slow_graph([]), user_input(run="r2"), agent="a", thread_key="t1")
    with pytest.raises(RunNotFoundError):
        registry.cancel("nope")
    await registry.aclose()
    with pytest.raises(RunEndedError):
        registry.cancel("r1")
    assert types(registry, "r1")[-1] == "RUN_FINISHED"


async def test_a_failing_graph_logs_its_traceback_not_to_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = RunRegistry()
    graph = agent_graph([RuntimeError("secret detail")])
    record = registry.start(graph, user_input(), agent="a", thread_key="t1")
    await asyncio.wait_for(asyncio.shield(record.task), 10)  # type: ignore[arg-type]
    last = json.loads(record.log.after(0)[-1])
    assert last["type"] == "RUN_ERROR" and "secret detail" not in last["message"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "secret detail" in str(errors[0].exc_info[1])


def test_with_checkpointer_copies_and_never_mutates() -> None:
    bare = agent_graph([]).copy(update={"checkpointer": None})
    saver = InMemorySaver()
    served = with_checkpointer(bare, saver)
    assert served is not bare and served.checkpointer is saver and bare.checkpointer is None
    own = agent_graph([])
    assert with_checkpointer(own, saver) is own


async def test_ended_runs_are_kept_within_a_byte_budget_then_expire() -> None:
    registry = RunRegistry(retention_bytes=250_000)
    graph = with_checkpointer(agent_graph(["ok"] * 6), InMemorySaver())
    for n in range(1, 6):  # each run's log holds its 100 kB message (MESSAGES_SNAPSHOT)
        registry.start(
            graph,
            user_input("x" * 100_000, run=f"r{n}", thread=f"t{n}", msg_id=f"u{n}"),
            agent="a",
            thread_key=f"t{n}",
        )
        task = registry.get(f"r{n}").task
        assert task is not None
        await task
    kept = [n for n in range(1, 6) if _kept(registry, f"r{n}")]
    assert kept == [4, 5]  # the newest, as many as fit
    assert sum(registry.get(f"r{n}").log.size() for n in kept) <= 250_000
    with pytest.raises(RunExpiredError, match="no longer kept"):
        registry.get("r1")
    with pytest.raises(RunExpiredError):
        registry.cancel("r3")
    with pytest.raises(RunNotFoundError) as never:
        registry.get("r9")
    assert not isinstance(never.value, RunExpiredError)


def _kept(registry: RunRegistry, run_id: str) -> bool:
    """Whether memory holds the run (an expired run, or one the store serves
    from now on, is not)."""
    try:
        registry.get(run_id)
    except RunNotFoundError:
        return False
    return True


# -- with a durable store (docs/adr/0012-durable-run-logs.md) -----------------------


async def _run(registry: RunRegistry, graph: Any, run: str, thread: str) -> list[str]:
    record = await registry.start_claimed(
        graph, user_input(run=run, thread=thread), agent="a", thread_key=thread
    )
    assert record.task is not None
    await record.task
    return list(record.log.after(0))


async def _stored(log: RunLog | StoredLog) -> list[str]:
    assert isinstance(log, StoredLog)
    return list(await log.read(0))


async def test_an_ended_run_past_memory_retention_is_served_from_the_store(
    tmp_path: Path,
) -> None:
    store = await SqliteTaskStore.open(tmp_path / "store.sqlite")
    registry = RunRegistry(retention=1)
    registry.keep_logs(store)
    graph = agent_graph(["one", "two"])
    first = await _run(registry, graph, "r1", "t1")
    await _run(registry, graph, "r2", "t2")
    await registry.aclose()  # every log saved
    with pytest.raises(RunNotFoundError):
        registry.get("r1")  # memory keeps one ended run ...
    assert await _stored(await registry.find("r1")) == first  # ... the store every one
    with pytest.raises(RunNotFoundError):
        await registry.find("r9")
    await store.aclose()


async def test_a_run_id_the_store_knows_is_refused_after_a_restart(tmp_path: Path) -> None:
    store = await SqliteTaskStore.open(tmp_path / "store.sqlite")
    before = RunRegistry()
    before.keep_logs(store)
    graph = agent_graph(["one", "two"])
    logged = await _run(before, graph, "r1", "t1")
    await before.aclose()
    after = RunRegistry()  # a new process on the same store
    after.keep_logs(store)
    with pytest.raises(RunExistsError):
        await _run(after, graph, "r1", "t2")
    with pytest.raises(RunEndedError):
        await after.cancel_anywhere("r1")
    assert await _stored(await after.find("r1")) == logged
    await store.aclose()


class _Flaky:
    """A store whose first writes fail as a database that cannot be used now."""

    def __init__(self, logs: RunLogs, failures: int) -> None:
        self._logs = logs
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logs, name)

    async def write_run(self, run_key: str, run: StoredRun, frames: Sequence[str]) -> bool:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailableError("the database cannot be used now")
        return await self._logs.write_run(run_key, run, frames)


async def test_a_log_is_saved_once_the_store_can_be_written_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durable, "RETRY_SECONDS", 0.01)
    monkeypatch.setattr(registry_module, "UNSAVED_RUNS", 2)
    store = await SqliteTaskStore.open(tmp_path / "store.sqlite")
    flaky = _Flaky(store, failures=50)
    registry = RunRegistry(retention=1)
    registry.keep_logs(flaky)
    graph = agent_graph(["one", "two"])
    logged = [await _run(registry, graph, f"r{n}", f"t{n}") for n in (1, 2)]
    assert registry.get("r1").log.after(0) == logged[0]  # unsaved: memory keeps it
    with pytest.raises(StoreUnavailableError):  # memory holds all it may unsaved
        await _run(registry, graph, "r3", "t3")
    await registry.aclose()
    assert flaky.failures == 0
    for n, events in enumerate(logged, 1):
        assert await store.read_run(f"r{n}", 0) == events  # nothing dropped
    # Saved: memory keeps only what retention allows (one run). Which one is
    # the saver that got through first's: it was let go while the other,
    # unsaved, had to stay.
    assert [_kept(registry, run) for run in ("r1", "r2")].count(True) == 1
    await store.aclose()


async def test_a_reader_past_a_lost_runs_stored_end_still_gets_its_end(tmp_path: Path) -> None:
    """Its killed process streamed events it never stored: the reader saw them."""
    store = await SqliteTaskStore.open(tmp_path / "store.sqlite")
    graph = agent_graph(["one"])
    registry = RunRegistry()
    registry.keep_logs(store)
    logged = await _run(registry, graph, "r1", "t1")
    await registry.aclose()
    # As a killed process leaves it: open, its last events not stored.
    cut = StoredRun("r1", "t2", "a", None, "dead", 0, 3, False, False, started_at=1.0)
    assert await store.write_run("cut", cut, logged[:3])
    await store.close_lost_run("cut", registry.owner)
    log = StoredLog(store, "cut", registry.owner)
    stored = await log.read(0)
    assert json.loads(stored[-1])["code"] == "WORKER_LOST"
    # At the stored end's seq it may have seen that end, or a live event the
    # store never got under the same seq: it is told the end (again).
    assert await log.read(len(stored)) == stored[-1:]
    assert await log.read(len(stored) + 4) == stored[-1:]  # it saw more than was stored
    assert await log.finished(len(stored) + 5)
    ended = StoredLog(store, "r1", registry.owner)  # a run that ended as it streamed
    assert await ended.read(len(logged)) == []  # its reader at the end has read it
    await store.aclose()


async def test_a_run_another_process_resumed_is_read_from_the_store(postgres_url: str) -> None:
    """A still holds the ended run; B resumed it under its id (CopilotKit): A
    serves and refuses what the store says, not its stale memory."""
    store = await PostgresTaskStore.open(postgres_url)
    graph = approval_graph()
    a, b = RunRegistry(), RunRegistry()
    for registry in (a, b):
        registry.share_threads(store, 10)
        registry.keep_logs(store)
    asked = await a.start_claimed(graph, user_input(), agent="a", thread_key="t1")
    await _settled(asked)
    [pending] = json.loads(asked.log.after(0)[-1])["outcome"]["interrupts"]
    answer = [ResumeEntry(interrupt_id=pending["id"], status="resolved", payload="yes")]
    resumed = await b.start_claimed(graph, user_input(resume=answer), agent="a", thread_key="t1")
    await _settled(resumed)
    assert await _stored(await a.find("r1")) == resumed.log.after(0)  # all of it, via A
    async with asyncio.timeout(5):  # B lets the thread go (from its claim keeper's task)
        while await store.claimed_run("t1") is not None:
            await asyncio.sleep(0.01)
    with pytest.raises(RunExistsError):  # it ended done: A does not resume it again
        await a.start_claimed(graph, user_input(resume=answer), agent="a", thread_key="t1")
    for registry in (a, b):
        await registry.aclose()
    await store.aclose()


async def _settled(record: RunRecord) -> None:
    assert record.task is not None and record.saver is not None
    await asyncio.wait({record.task, record.saver})


class _Gated(_Flaky):
    """A store whose writes wait until the test lets them through."""

    def __init__(self, logs: RunLogs) -> None:
        super().__init__(logs, failures=0)
        self.gate = asyncio.Event()

    async def write_run(self, run_key: str, run: StoredRun, frames: Sequence[str]) -> bool:
        await self.gate.wait()
        return await super().write_run(run_key, run, frames)


async def test_a_threads_claim_goes_only_once_the_store_has_its_runs_end(
    tmp_path: Path,
) -> None:
    """Else another process, finding the log open and the thread free, would
    close a run that ended well as lost."""
    store = await SqliteTaskStore.open(tmp_path / "store.sqlite")
    claims = MemoryTaskStore()  # the claims another process would see
    gated = _Gated(store)
    registry = RunRegistry()
    registry.share_threads(claims, 10)
    registry.keep_logs(gated)
    record = await registry.start_claimed(
        agent_graph(["one"]), user_input(), agent="a", thread_key="t1"
    )
    assert record.task is not None and record.saver is not None
    await record.task  # the run ended; its end is not stored yet
    await asyncio.sleep(0.05)  # the keeper would have released it by now
    assert not await claims.claim_thread("t1", "x", "c", "another process", 10)
    gated.gate.set()
    await asyncio.wait({record.saver})
    async with asyncio.timeout(5):
        while not await claims.claim_thread("t1", "x", "c", "another process", 10):
            await asyncio.sleep(0.01)
    await registry.aclose()
    await store.aclose()


async def test_a_threads_active_run_is_named_by_any_process(tmp_path: Path) -> None:
    claims = MemoryTaskStore()  # what every process shares
    a, b = RunRegistry(), RunRegistry()
    for registry in (a, b):
        registry.share_threads(claims, 10)
    key = thread_key("alice", "t1")
    record = await a.start_claimed(
        slow_graph([]), user_input(), agent="a", thread_key=key, principal="alice"
    )
    assert await b.active_run_anywhere(key, "alice") == "r1"
    assert await b.active_run_anywhere(thread_key("alice", "t2"), "alice") is None
    a.cancel("r1", "alice")
    assert record.task is not None
    await asyncio.wait({record.task})
    async with asyncio.timeout(5):  # its claim goes as the run ends
        while await b.active_run_anywhere(key, "alice") is not None:
            await asyncio.sleep(0.01)
    for registry in (a, b):
        await registry.aclose()


class _Timed(_Flaky):
    """A store that notes when each write came."""

    def __init__(self, logs: RunLogs) -> None:
        super().__init__(logs, failures=0)
        self.writes: list[float] = []

    async def write_run(self, run_key: str, run: StoredRun, frames: Sequence[str]) -> bool:
        self.writes.append(time.monotonic())
        return await super().write_run(run_key, run, frames)


async def test_a_fast_stream_is_saved_in_batches_not_a_write_per_token(tmp_path: Path) -> None:
    store = await SqliteTaskStore.open(tmp_path / "store.sqlite")
    timed = _Timed(store)
    log = RunLog()
    log.put(RunStartedEvent(thread_id="t", run_id="r1"))
    log.put(TextMessageStartEvent(message_id="m1"))
    row = StoredRun("r1", "t", "a", None, "me", 0, 0, False, False, started_at=1.0)
    end = durable.RunEnd()
    saver = asyncio.create_task(durable.LogSaver(timed, "k1", row, log, end).run())
    for n in range(300):  # a token a millisecond for 0.3 s
        log.put(TextMessageContentEvent(message_id="m1", delta=f"{n} "))
        await asyncio.sleep(0.001)
    log.put(TextMessageEndEvent(message_id="m1"))
    log.put(RunFinishedEvent(thread_id="t", run_id="r1"))
    end.settle(log.last_seq, interrupted=False)
    assert await saver
    gaps = [b - a for a, b in itertools.pairwise(timed.writes[:-1])]  # the end's aside
    assert gaps and min(gaps) >= 0.045  # 50 ms batches, not a write per token
    assert await store.read_run("k1", 0) == log.after(0)
    await store.aclose()
