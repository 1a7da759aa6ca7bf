"""Every TaskStore implementation, behind one fixture, on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graphwire.tasks import BaseTaskStore, MemoryTaskStore, SqliteTaskStore


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


async def open_store(kind: str, path: Path, clock: FakeClock | None = None) -> BaseTaskStore:
    if kind == "memory":
        return MemoryTaskStore(clock=clock)
    return await SqliteTaskStore.open(path / "tasks.sqlite", clock=clock)


@pytest.fixture(params=["memory", "sqlite"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[BaseTaskStore]:
    opened = await open_store(request.param, tmp_path, clock)
    yield opened
    await opened.aclose()
