"""Durable run logs: every foreground run's events in the store all processes
share, so a run is re-attached (``GET /runs/{id}/events``, Last-Event-ID) after
a restart and through any process (docs/adr/0012-durable-run-logs.md).

The live stream to the caller stays served from the run's ``RunLog`` in the
process that runs it; a ``LogSaver`` per run copies that log into the store in
batches, so streaming never waits on the database. A run's row is fenced by
its seq: a write lands only right after the last stored event, so a process
whose run was given up as lost (``RunLogs.close_lost_run``) cannot write after
the closing events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from graphwire.protocol import StoreUnavailableError
from graphwire.runs._log import RunLog

logger = logging.getLogger("graphwire.runs")

SAVE_GATHER_SECONDS = 0.05
"""How long a saver gathers events after the first of a batch: one write (and
on PostgreSQL one NOTIFY) per run per 50 ms at most; a run that ends sooner
is saved in one write."""
RETRY_SECONDS = 1.0
"""How long a saver waits before it tries a failed write again."""


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run's row in the store: who it is, how far its log goes, how it ended."""

    run_id: str
    thread_key: str
    agent: str
    principal: str | None
    owner: str
    """The registry (process) that writes the log now."""
    start_seq: int
    """The log's seq before the latest (re)start under this id."""
    last_seq: int
    closed: bool
    """The terminal event is stored."""
    interrupted: bool
    """The latest run under this id ended waiting for answers (it can be resumed)."""
    started_at: float
    """When its latest (re)start began (the thread's runs are kept newest first)."""
    kept: bool = True
    """Its events are still stored (False: dropped by the thread's retention)."""


class RunLogs(Protocol):
    """Where runs' event logs are kept (the task store; every process shares it)."""

    async def find_run(self, run_key: str) -> StoredRun | None:
        """The run's row (None: no run has this key)."""
        ...

    async def write_run(self, run_key: str, run: StoredRun, frames: Sequence[str]) -> bool:
        """Append ``frames`` as seqs ``run.last_seq - len(frames) + 1`` on and store
        ``run`` as the row, in one transaction; the first write of a (re)start also
        marks the thread's other runs as no longer resumable and drops the events
        of those past the store's retention (the thread's newest runs are kept).
        False, and nothing written, when the stored log does not end right before
        those seqs (the run was closed as lost meanwhile)."""
        ...

    async def read_run(self, run_key: str, after: int, limit: int | None = None) -> list[str]:
        """The stored frames after seq ``after``, in order."""
        ...

    async def wait_run(self, run_key: str, after: int, timeout: float) -> bool:
        """Wait until a frame after ``after`` is stored; False on timeout."""
        ...

    async def running(self, run_key: str) -> bool:
        """Some process runs it now (a live thread claim names it), whether or
        not its first events are stored yet."""
        ...

    async def close_lost_run(self, run_key: str, owner: str) -> None:
        """End a run whose log is open but whose process is gone (it was written
        by another owner than ``owner`` and no live thread claim names it) with
        RUN_ERROR ``WORKER_LOST``, closing what it left open."""
        ...


@dataclass(frozen=True, slots=True)
class StoredLog:
    """A run's log as the store has it: what re-attach streams when another
    process runs the run, or none does any more (``server``'s ``LogSource``)."""

    logs: RunLogs
    key: str
    owner: str
    page: int = 500

    async def read(self, after: int) -> Sequence[str]:
        """The stored frames after ``after``, a page at most. A reader past the
        stored end of an ended run gets its terminal event (as ``after + 1``): it
        saw events its killed process streamed but never stored, and it still
        learns how the run ended."""
        frames = await self.logs.read_run(self.key, after, self.page)
        if frames:
            return frames
        run = await self.logs.find_run(self.key)
        if run is None or not run.closed or after <= run.last_seq:
            return frames
        return await self.logs.read_run(self.key, run.last_seq - 1, 1)

    async def wait(self, after: int, timeout: float, gather: float) -> bool:
        """Wait for frames after ``after``, then ``gather`` seconds more; False on
        timeout (a quiet run whose process is gone is closed as lost then)."""
        if not await self.logs.wait_run(self.key, after, timeout):
            # Quiet for a while: the process running it may be gone.
            await self.logs.close_lost_run(self.key, self.owner)
            return False
        if gather:
            await asyncio.sleep(gather)
        return True

    async def finished(self, after: int) -> bool:
        """The run's end is stored and nothing after ``after`` is left."""
        run = await self.logs.find_run(self.key)
        return run is None or (run.closed and run.last_seq <= after)


class LogSaver:
    """Copies one run's log into the store, in batches, until the run has ended
    and every event is stored. A write that fails for want of the store is tried
    again: nothing the run logged is dropped while the process lives."""

    def __init__(
        self,
        logs: RunLogs,
        key: str,
        row: StoredRun,
        log: RunLog,
        ended: Callable[[], Awaitable[bool]],
    ) -> None:
        """``row``: the run as stored once it (re)started; ``ended()``: waits for
        the run to settle and says whether it ended interrupted."""
        self._logs = logs
        self._key = key
        self._row = row
        self._log = log
        self._ended = ended
        self.saved = row.start_seq
        """The last seq in the store."""

    async def run(self) -> bool:
        """Save until the run's end is stored: True; False when the stored log
        was closed as lost meanwhile (the run must stop)."""
        while not self._log.closed:
            await self._log.wait(self.saved, 3600.0, SAVE_GATHER_SECONDS)
            if self._log.closed:
                break  # what is left goes with the run's end: one write
            if not await self._save(closed=False, interrupted=False):
                return False
        interrupted = await self._ended()
        return await self._save(closed=True, interrupted=interrupted)

    async def _save(self, *, closed: bool, interrupted: bool) -> bool:
        frames = self._log.after(self.saved)
        if not frames and not closed:
            return True
        last = self.saved + len(frames)
        row = replace(self._row, last_seq=last, closed=closed, interrupted=interrupted)
        while True:
            try:
                written = await self._logs.write_run(self._key, row, frames)
                break
            except StoreUnavailableError as exc:
                logger.warning(
                    "run %s: its events are not stored yet (again in 1 s): %s",
                    self._row.run_id,
                    exc,
                )
                await asyncio.sleep(RETRY_SECONDS)
        if not written:
            logger.error("run %s: its stored log was closed as lost", self._row.run_id)
            return False
        self.saved = last
        return True
