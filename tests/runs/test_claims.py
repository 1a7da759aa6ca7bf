"""The ClaimKeeper on a store's thread claims (memory here; the claims
themselves are contract-tested on every store that has them)."""

from __future__ import annotations

import asyncio

from graphwire.runs import ClaimKeeper, stop_within
from graphwire.tasks import MemoryTaskStore


async def test_a_run_claimed_again_under_its_key_keeps_the_new_claim() -> None:
    """CopilotKit resumes an interrupted run under its own id: the release of
    the run's first claim, still queued, must not drop the second."""
    store = MemoryTaskStore()
    lost: list[str] = []
    keeper = ClaimKeeper(store, 0.3, lost.append, "this process")
    first = await keeper.claim("t", "k1")
    assert first is not None
    assert await keeper.claim("t", "k1")  # the run ended interrupted, resumed under its id ...
    keeper.release("t", first)  # ... before the release of its first claim (ADR 0012)
    await asyncio.sleep(0.25)  # the keeper has released the first claim and renewed
    assert lost == []
    assert not await store.claim_thread("t", "x", "cx", "another process", 10)
    await keeper.aclose()
    assert await store.claim_thread("t", "x", "cx", "another process", 10)  # released


class _Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_claim_another_process_took_stops_its_run() -> None:
    clock = _Clock()
    store = MemoryTaskStore(clock=clock)
    lost: list[str] = []
    keeper = ClaimKeeper(store, 0.3, lost.append, "this process")
    assert await keeper.claim("t", "k1")
    clock.now += 1  # the lease ran out unseen (a paused process) ...
    assert await store.claim_thread("t", "k9", "c9", "another process", 30)  # ... and was taken
    async with asyncio.timeout(2):
        while not lost:
            await asyncio.sleep(0.02)
    assert lost == ["k1"]  # the registry stops that run
    await keeper.aclose()
    assert not await store.claim_thread("t", "k2", "c2", "a third process", 30)  # not dropped


async def test_a_thread_goes_only_when_every_run_of_the_process_has_let_it_go() -> None:
    """A run's next one took the thread while the first still saved its end; the
    next one's start failed (or it finished first): the first still holds it."""
    store = MemoryTaskStore()
    keeper = ClaimKeeper(store, 10, [].append, "this process")
    first = await keeper.claim("t", "k1")
    second = await keeper.claim("t", "k2")
    assert first is not None and second is not None
    keeper.release("t", second)
    await asyncio.sleep(0.05)  # the keeper would have released it by now
    assert not await store.claim_thread("t", "x", "cx", "another process", 10)
    keeper.release("t", first)
    async with asyncio.timeout(5):
        while not await store.claim_thread("t", "x", "cx", "another process", 10):
            await asyncio.sleep(0.01)
    await keeper.aclose()


async def test_stop_within_cancels_again_a_task_that_ignored_the_first_cancel() -> None:
    """psycopg, waiting on a database that answers nothing, takes a first cancel
    for a request to send the server, and stops at the second."""
    cancels = 0

    async def stubborn() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancels += 1
                if cancels == 2:
                    raise

    task = asyncio.create_task(stubborn())
    async with asyncio.timeout(5):
        late = await stop_within({task}, 0.05)
    assert late == {task} and task.cancelled() and cancels == 2


async def test_a_claim_kept_at_close_is_left_to_lapse_and_the_others_go() -> None:
    """A run that did not stop may still write: its thread stays claimed."""
    store = MemoryTaskStore()
    keeper = ClaimKeeper(store, 10, [].append, "this process")
    assert await keeper.claim("going", "k1") and await keeper.claim("ended", "k2")
    await keeper.aclose(1.0, keep={"going"})
    assert not await store.claim_thread("going", "x", "cx", "another process", 10)
    assert await store.claim_thread("ended", "y", "cy", "another process", 10)
