"""Durable run logs: every foreground run's events in the store all processes
share, so a run is re-attached (``GET /runs/{id}/events``, Last-Event-ID) after
a restart and through any process (docs/adr/0012-durable-run-logs.md).

The live stream to the caller stays served from the run's ``RunLog`` in the
process that runs it; a ``LogSaver`` per run copies that log into the store in
batches, so streaming never waits on the database. A write lands only if it
fits the stored row (right after its last event; a resume onto a run that
ended interrupted, anything else onto its own open row), so a process whose
run was given up as lost (``RunLogs.close_lost_run``) cannot write after the
closing events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from graphwire.protocol import ErrorCode, StoreUnavailableError
from graphwire.runs._log import RunLog

logger = logging.getLogger("graphwire.runs")

SAVE_GATHER_SECONDS = 0.05
"""How long a saver gathers events once it has some to save (50 to 100 ms):
one write (and on PostgreSQL one NOTIFY) per run per 50 ms at most, however
fast the run streams; a run that ends sooner is saved in one write."""
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
        drops the events of the thread's runs past the store's retention (its
        newest are kept). False, and nothing written, unless the write fits: the
        stored log ends right before those seqs, and a (re)start's first write
        finds no row or one closed interrupted, any other write the row still
        open and its own (the run was not closed as lost meanwhile)."""
        ...

    async def read_run(self, run_key: str, after: int, limit: int | None = None) -> list[str]:
        """The stored frames after seq ``after``, in order."""
        ...

    async def newest_run(self, thread_key: str) -> str | None:
        """The key of the thread's run (re)started last (None: it has none):
        only that one can be resumed."""
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
        by another owner than ``owner``, and that owner holds no live claim on
        its thread, for it or for a later run) with RUN_ERROR ``WORKER_LOST``,
        closing what it left open."""
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
        learns how the run ended. So does a reader at the end of a run closed as
        lost: the seq it saw last may be a live event's, not that end's."""
        frames = await self.logs.read_run(self.key, after, self.page)
        if frames:
            return frames
        run = await self.logs.find_run(self.key)
        if run is None or not run.closed or after < run.last_seq:
            return frames
        end = await self.logs.read_run(self.key, run.last_seq - 1, 1)
        if after == run.last_seq and not _closed_as_lost(end):
            return frames
        return end

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


@dataclass(slots=True)
class RunEnd:
    """How one (re)start of a run ended, once it has: set by the registry when
    the run settles; a later (re)start under the same id gets a new one."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    seq: int = 0
    """The log's last seq at the end: the (re)start's events stop there."""
    interrupted: bool = False

    def settle(self, seq: int, interrupted: bool) -> None:
        self.seq, self.interrupted = seq, interrupted
        self.done.set()


class LogSaver:
    """Copies one (re)start of a run from its log into the store, in batches,
    until its end is stored. A write that fails for want of the store is tried
    again: nothing the run logged is dropped while the process lives."""

    def __init__(self, logs: RunLogs, key: str, row: StoredRun, log: RunLog, end: RunEnd) -> None:
        """``row``: the run as stored once it (re)started; ``end``: set when it
        has ended (a resume under its id may have reopened the log by the time
        this saver gets there: it saves up to ``end.seq`` only)."""
        self._logs = logs
        self._key = key
        self._row = row
        self._log = log
        self._end = end
        self.saved = row.start_seq
        """The last seq in the store."""

    async def run(self) -> bool:
        """Save until the run's end is stored: True; False when the store took
        the log from this process (it was closed as lost): the run must stop."""
        while not self._over():
            await self._log.wait(self.saved, 3600.0)  # something to save, or the end
            if not self._over():  # gather what follows; the run's end cuts it short
                await self._log.wait(self._log.last_seq, SAVE_GATHER_SECONDS, SAVE_GATHER_SECONDS)
            if self._over():
                break  # what is left goes with the run's end: one write
            if not await self._save(self._log.after(self.saved), closed=False):
                return False
        await self._end.done.wait()
        return await self._save(
            self._log.after(self.saved)[: self._end.seq - self.saved], closed=True
        )

    def _over(self) -> bool:
        return self._log.closed or self._end.done.is_set()

    async def _save(self, frames: Sequence[str], *, closed: bool) -> bool:
        if not frames and not closed:
            return True
        last = self.saved + len(frames)
        interrupted = closed and self._end.interrupted
        row = replace(self._row, last_seq=last, closed=closed, interrupted=interrupted)
        tries = 0
        while True:
            try:
                written = await self._logs.write_run(self._key, row, frames)
                break
            except StoreUnavailableError as exc:
                if not tries:  # said once per batch, not every second
                    logger.warning(
                        "run %s: its events are not stored yet (trying every %s s): %s",
                        self._row.run_id,
                        RETRY_SECONDS,
                        exc,
                    )
                tries += 1
                await asyncio.sleep(RETRY_SECONDS)
        if tries:
            logger.info("run %s: its events are stored (after %d tries)", self._row.run_id, tries)
        if not written:
            logger.error("run %s: the store no longer takes its log from us", self._row.run_id)
            return False
        self.saved = last
        return True


def _closed_as_lost(end: Sequence[str]) -> bool:
    """Whether a run's stored terminal event is the one a lost run is closed with."""
    return bool(end) and json.loads(end[0]).get("code") == ErrorCode.WORKER_LOST
