"""Stopping background tasks within a time limit (a shutdown's grace)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Collection
from typing import Any

logger = logging.getLogger("graphwire.runs")

NUDGE_SECONDS = 0.1
NUDGES = 5
"""A task cancelled is cancelled again every ``NUDGE_SECONDS``, ``NUDGES``
times at most: psycopg waits up to 10 s for a database that does not answer
a first cancel, and gives up at the second."""


class Deadline:
    """One time limit for several steps, counted from ``start``."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._ends = math.inf

    def start(self) -> Deadline:
        """Count from now; returns itself."""
        self._ends = time.monotonic() + self._seconds
        return self

    def left(self) -> float:
        """Seconds left (all of them before ``start``)."""
        if self._ends == math.inf:
            return self._seconds
        return max(0.0, self._ends - time.monotonic())


async def stop_within(
    tasks: Collection[asyncio.Task[Any]], timeout: float | None
) -> set[asyncio.Task[Any]]:
    """Wait ``timeout`` seconds at most (None: no limit) for ``tasks`` to end;
    cancel those still running (again for half a second, ``NUDGES``). Returns the
    tasks that did not end within ``timeout``; any still running after the
    nudges is logged and left to the event loop's close."""
    if not tasks:
        return set()
    _, late = await asyncio.wait(tasks, timeout=timeout)
    running = set(late)
    for _ in range(NUDGES):
        if not running:
            break
        for task in running:
            task.cancel()
        _, running = await asyncio.wait(running, timeout=NUDGE_SECONDS)
    if running:
        names = ", ".join(sorted(task.get_name() for task in running))
        logger.error("%d tasks did not stop when cancelled: %s", len(running), names)
    return late
