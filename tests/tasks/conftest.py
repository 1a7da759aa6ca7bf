"""Every TaskStore implementation, behind one fixture, on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graphwire.tasks import BaseTaskStore, MemoryTaskStore, PostgresTaskStore, SqliteTaskStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


STORES = ["memory", "sqlite", "postgres"]


async def open_store(
    request: pytest.FixtureRequest, kind: str, path: Path, clock: FakeClock | None = None
) -> BaseTaskStore:
    """A new, empty store of ``kind`` (PostgreSQL: a database of its own)."""
    if kind == "memory":
        return MemoryTaskStore(clock=clock)
    if kind == "postgres":
        return await PostgresTaskStore.open(request.getfixturevalue("postgres_url"), clock=clock)
    return await SqliteTaskStore.open(path / "tasks.sqlite", clock=clock)


@pytest.fixture(params=STORES)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[BaseTaskStore]:
    opened = await open_store(request, request.param, tmp_path, clock)
    yield opened
    await opened.aclose()
