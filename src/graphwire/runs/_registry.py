"""Active runs: one per thread, each owned by a background task, each with an
event log a caller can re-attach to."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ag_ui.core import RunAgentInput
from langgraph.pregel import Pregel

from graphwire.protocol import GraphwireError, is_resume
from graphwire.runs._claims import ClaimKeeper, ThreadClaims
from graphwire.runs._driver import GraphRun, RunOptions
from graphwire.runs._log import RunLog

logger = logging.getLogger("graphwire.runs")

OnDisconnect = Literal["cancel", "continue"]


def thread_key(principal: str | None, thread_id: str) -> str:
    """The checkpointer key: threads are scoped to the principal the auth hook returns."""
    return thread_id if principal is None else f"{len(principal)}:{principal}:{thread_id}"


def run_key(principal: str | None, run_id: str) -> str:
    """Run ids are scoped to the principal, as threads are."""
    return thread_key(principal, run_id)


class ThreadBusyError(GraphwireError):
    """The thread already has an active run."""


class RunExistsError(GraphwireError):
    """A run with this id is already known."""


class RunNotFoundError(GraphwireError):
    """No such run (or not visible to the caller)."""


class RunEndedError(GraphwireError):
    """The run has already ended."""


class RunExpiredError(RunNotFoundError):
    """The run ended long enough ago that its log is no longer kept."""


@dataclass(slots=True)
class RunRecord:
    """A run id and its log. A run that resumes an interrupted one under its id
    (as CopilotKit does) continues this record: the same log, numbered on."""

    run_id: str
    thread_key: str
    agent: str
    principal: str | None
    on_disconnect: OnDisconnect
    log: RunLog = field(default_factory=RunLog)
    task: asyncio.Task[None] | None = None
    start_seq: int = 0
    """The log's seq before the latest (re)start: its events come after it."""

    @property
    def key(self) -> str:
        """The registry's key: the run id within its principal's runs."""
        return run_key(self.principal, self.run_id)

    interrupted: bool = False
    """The latest run under this id ended waiting for answers to interrupts."""
    size: int = 0
    """What its log holds once ended (``RunLog.size``)."""


class RunRegistry:
    """Starts, tracks, cancels and forgets runs. Call ``aclose`` on shutdown."""

    def __init__(self, retention: int = 1000, retention_bytes: int = 128 * 1024 * 1024) -> None:
        """Ended runs' logs are kept for re-attach, the newest first, up to
        ``retention`` runs and ``retention_bytes`` of events; an older run's id is
        remembered as expired (``RunExpiredError``) for ten times as many runs."""
        # Runs are keyed by principal and run id: one principal's run ids say
        # nothing about another's, and cannot be taken by another.
        self._active: dict[str, RunRecord] = {}
        self._threads: dict[str, str] = {}
        self._ended: OrderedDict[str, RunRecord] = OrderedDict()
        self._ended_bytes = 0
        self._expired: OrderedDict[str, None] = OrderedDict()
        self._latest: dict[str, str] = {}
        """thread key -> the id of the thread's latest run, while it is kept."""
        self._retention = retention
        self._retention_bytes = retention_bytes
        self._keeper: ClaimKeeper | None = None
        self._claiming: set[str] = set()

    def share_threads(self, claims: ThreadClaims, lease_seconds: float) -> None:
        """Claim each run's thread in ``claims`` too (a store other processes
        share): one run per thread across all of them (``start_claimed``)."""
        self._keeper = ClaimKeeper(claims, lease_seconds, self._stop)

    async def start_claimed(
        self,
        graph: Pregel[Any, Any],
        run: RunAgentInput,
        *,
        thread_key: str,
        principal: str | None = None,
        **options: Any,
    ) -> RunRecord:
        """``start``, once the thread is claimed in the shared store (if any):
        ``ThreadBusyError`` while another process runs it."""
        kwargs = {"thread_key": thread_key, "principal": principal, **options}
        if self._keeper is None:
            return self.start(graph, run, **kwargs)
        if thread_key in self._threads or thread_key in self._claiming:
            raise ThreadBusyError(f"thread {run.thread_id!r} already has an active run")
        self._claiming.add(thread_key)  # one claim at a time per thread in this process
        key = run_key(principal, run.run_id)
        try:
            if not await self._keeper.claim(thread_key, key):
                raise ThreadBusyError(f"thread {run.thread_id!r} has an active run elsewhere")
        finally:
            self._claiming.discard(thread_key)
        try:
            return self.start(graph, run, **kwargs)
        except Exception:  # not started: the claim goes
            self._keeper.release(thread_key, key)
            raise

    def _stop(self, key: str) -> None:
        """Cancel the active run with this run key, if this process runs it."""
        record = self._active.get(key)
        if record is not None and record.task is not None:
            record.task.cancel()

    async def cancel_anywhere(self, run_id: str, principal: str | None = None) -> None:
        """``cancel``; a run this process does not know is stopped by the process
        holding its thread's claim, when the registry shares threads."""
        try:
            self.cancel(run_id, principal)
        except (RunNotFoundError, RunEndedError):
            # Not running here (resumed under its id elsewhere, perhaps).
            if self._keeper is None or not await self._keeper.request_cancel(
                run_key(principal, run_id)
            ):
                raise

    def start(
        self,
        graph: Pregel[Any, Any],
        run: RunAgentInput,
        *,
        agent: str,
        thread_key: str,
        principal: str | None = None,
        on_disconnect: OnDisconnect = "cancel",
        options: RunOptions | None = None,
    ) -> RunRecord:
        """Claim the thread and start the run in the background (atomic: no await).

        A run id already known is refused, except by a resume of the thread's
        latest run when that run ended interrupted: it continues that run's record.
        """
        if thread_key in self._threads:
            raise ThreadBusyError(f"thread {run.thread_id!r} already has an active run")
        record = self._record_for(run, agent, thread_key, principal, on_disconnect)
        opts = replace(options or RunOptions(), thread_key=thread_key)
        # The GraphRun (mapper state, the thread's messages) lives only as long as
        # the run: an ended run keeps just its log, for re-attach.
        graph_run = GraphRun(graph, run, opts)
        record.start_seq = record.log.last_seq
        graph_run.start(record.log)
        self._active[record.key] = record
        self._threads[thread_key] = run.run_id
        self._latest[thread_key] = run.run_id
        record.task = asyncio.create_task(
            graph_run.run(record.log), name=f"graphwire-run-{run.run_id}"
        )
        record.task.add_done_callback(lambda _task: self._settle(record, graph_run))
        return record

    def _record_for(
        self,
        run: RunAgentInput,
        agent: str,
        thread_key: str,
        principal: str | None,
        on_disconnect: OnDisconnect,
    ) -> RunRecord:
        """A new record, or the interrupted one this run resumes under its id."""
        key = run_key(principal, run.run_id)
        known = self._ended.get(key)
        if key in self._active or (
            known is not None and not self._resumes(known, run, agent, thread_key, principal)
        ):
            raise RunExistsError(f"run {run.run_id!r} already exists")
        if known is None:
            self._expired.pop(key, None)
            return RunRecord(run.run_id, thread_key, agent, principal, on_disconnect)
        del self._ended[key]
        self._ended_bytes -= known.size
        known.log.reopen()
        known.on_disconnect = on_disconnect
        return known

    def _resumes(
        self,
        known: RunRecord,
        run: RunAgentInput,
        agent: str,
        thread_key: str,
        principal: str | None,
    ) -> bool:
        return (
            known.interrupted
            and is_resume(run)
            and known.agent == agent
            and known.thread_key == thread_key
            and known.principal == principal
            and self._latest.get(thread_key) == known.run_id
        )

    def _settle(self, record: RunRecord, graph_run: GraphRun) -> None:
        """The run's task ended (finished, failed or cancelled): close its log."""
        task = record.task
        if task is not None and not task.cancelled() and task.exception() is not None:
            logger.error("run %s driver crashed", record.run_id, exc_info=task.exception())
        if not record.log.closed:
            for event in graph_run.cancel():
                record.log.put(event)
        self._active.pop(record.key, None)
        if self._threads.get(record.thread_key) == record.run_id:
            del self._threads[record.thread_key]
            if self._keeper is not None:
                self._keeper.release(record.thread_key, record.key)
        # Still waiting when this run waits again, or when its resume was refused
        # before the graph ran (a wrong interrupt id): the client may try again.
        record.interrupted = graph_run.interrupted or (record.interrupted and graph_run.refused)
        record.size = record.log.size()
        self._ended[record.key] = record
        self._ended_bytes += record.size
        while len(self._ended) > self._retention or (
            self._ended_bytes > self._retention_bytes and len(self._ended) > 1
        ):
            self._expire(*self._ended.popitem(last=False))

    def _expire(self, key: str, record: RunRecord) -> None:
        self._ended_bytes -= record.size
        if self._latest.get(record.thread_key) == record.run_id:
            del self._latest[record.thread_key]
        self._expired[key] = None
        if len(self._expired) > 10 * self._retention:
            self._expired.popitem(last=False)

    def get(self, run_id: str, principal: str | None = None) -> RunRecord:
        """The active or kept run (``RunNotFoundError``; ``RunExpiredError`` once
        its log is no longer kept)."""
        key = run_key(principal, run_id)
        record = self._active.get(key) or self._ended.get(key)
        if record is None and key in self._expired:
            raise RunExpiredError(f"run {run_id!r} ended and its events are no longer kept")
        if record is None:
            raise RunNotFoundError(f"no run {run_id!r}")
        return record

    def cancel(self, run_id: str, principal: str | None = None) -> RunRecord:
        """Stop a run: its graph task is cancelled; its log ends with outcome cancelled."""
        record = self.get(run_id, principal)
        if record.log.closed or record.task is None or record.task.done():
            raise RunEndedError(f"run {run_id!r} has already ended")
        record.task.cancel()
        return record

    def active_run_for(self, thread_key: str) -> str | None:
        """The id of the thread's active run, if it has one."""
        return self._threads.get(thread_key)

    def cancel_all(self) -> None:
        """Cancel every active run now (shutdown); each log ends with outcome cancelled."""
        for record in list(self._active.values()):
            if record.task is not None:
                record.task.cancel()

    async def aclose(self) -> None:
        """Cancel every active run, wait for each to close its log, release the
        threads' claims."""
        tasks = [r.task for r in self._active.values() if r.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._keeper is not None:
            await self._keeper.aclose()
