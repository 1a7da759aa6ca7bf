"""The run registry: ownership of background runs, cancel, per-thread exclusivity."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphwire.runs import (
    RunEndedError,
    RunExpiredError,
    RunNotFoundError,
    RunRegistry,
    ThreadBusyError,
)
from graphwire.server import with_checkpointer
from tests.graphs import agent_graph, user_input
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
    try:
        registry.get(run_id)
    except RunExpiredError:
        return False
    return True
