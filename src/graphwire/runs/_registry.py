"""Active runs: one per thread, each owned by a background task, each with an
event log a caller can re-attach to — kept in memory and, with a store
(``keep_logs``), saved there for re-attach after a restart and through any
process (docs/adr/0012-durable-run-logs.md)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ag_ui.core import RunAgentInput
from langgraph.pregel import Pregel

from graphwire.protocol import GraphwireError, StoreUnavailableError, is_resume
from graphwire.runs._claims import ClaimKeeper, ThreadClaims
from graphwire.runs._driver import GraphRun, RunOptions
from graphwire.runs._durable import LogSaver, RunEnd, RunLogs, StoredLog, StoredRun
from graphwire.runs._log import RunLog
from graphwire.runs._snapshots import SnapshotMemo
from graphwire.runs._stopping import Deadline, stop_within

logger = logging.getLogger("graphwire.runs")

OnDisconnect = Literal["cancel", "continue"]
CLOSE_SECONDS = 5.0
"""How long closing waits for the runs to stop, the store to take their last
events and the threads' claims to be released."""
UNSAVED_RUNS = 1000
"""Ended runs whose events the store has not taken yet, at most: then new runs
are refused (``StoreUnavailableError``) until it takes them; so are they once
what memory keeps passes ``retention_bytes`` and some of it is unsaved."""
FIRST_SAVE_SECONDS = 1.0
"""How long a re-attach waits for the first events of a run another process
has just started (they are saved within 50 ms)."""
SNAPSHOT_THREADS = 256
SNAPSHOT_BYTES = 64 * 1024 * 1024
"""Threads whose last MESSAGES_SNAPSHOT is kept for their next run
(``SnapshotMemo``), and the memory those may hold in all."""


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
    claim: str | None = None
    """The token of the latest run's claim on its thread (a shared store's)."""
    end: RunEnd = field(default_factory=RunEnd)
    """How the latest (re)start ended, once it has."""
    saver: asyncio.Task[None] | None = None
    """The task saving the latest (re)start's events (``RunRegistry.keep_logs``)."""
    unsaved: int = 0
    """(Re)starts whose events the store does not have all of yet."""
    lost: bool = False
    """The store took the log from this process (closed it as lost): memory
    no longer says what the log is."""


class RunRegistry:
    """Starts, tracks, cancels and forgets runs. Call ``aclose`` on shutdown."""

    def __init__(self, retention: int = 1000, retention_bytes: int = 128 * 1024 * 1024) -> None:
        """Ended runs' logs are kept for re-attach, the newest first, up to
        ``retention`` runs and ``retention_bytes`` of events; an older run's id is
        remembered as expired (``RunExpiredError``) for ten times as many runs —
        or, with ``keep_logs``, read from the store."""
        # Runs are keyed by principal and run id: one principal's run ids say
        # nothing about another's, and cannot be taken by another.
        self._active: dict[str, RunRecord] = {}
        self._threads: dict[str, str] = {}
        self._ended: OrderedDict[str, RunRecord] = OrderedDict()
        self._ended_bytes = 0
        self._expired: OrderedDict[str, None] = OrderedDict()
        self._latest: dict[str, str] = {}
        """thread key -> the id of the thread's latest run, while it is kept."""
        self._snapshots: OrderedDict[str, SnapshotMemo] = OrderedDict()
        self._retention = retention
        self._retention_bytes = retention_bytes
        self._keeper: ClaimKeeper | None = None
        self._claiming: set[str] = set()
        self._logs: RunLogs | None = None
        self._savers: set[asyncio.Task[None]] = set()
        self._unsaved = 0
        """Ended runs whose events the store does not have all of yet."""
        self.owner = f"runs-{uuid.uuid4().hex[:12]}"
        """This registry's id in the store (thread claims, run logs)."""

    def share_threads(self, claims: ThreadClaims, lease_seconds: float) -> None:
        """Claim each run's thread in ``claims`` too (a store other processes
        share): one run per thread across all of them (``start_claimed``)."""
        self._keeper = ClaimKeeper(claims, lease_seconds, self._stop, self.owner)

    def keep_logs(self, logs: RunLogs) -> None:
        """Save every run's log in ``logs`` as it goes (``find`` serves a run
        known only there); memory then keeps ended runs only as a cache, and
        none it has saved when other processes share the store."""
        self._logs = logs

    async def start_claimed(
        self,
        graph: Pregel[Any, Any],
        run: RunAgentInput,
        *,
        agent: str,
        thread_key: str,
        principal: str | None = None,
        **options: Any,
    ) -> RunRecord:
        """``start``, once the thread is claimed in the shared store (if any) and a
        run id known only to the store is found there: ``ThreadBusyError`` while
        another process runs the thread, ``RunExistsError`` for a stored run this
        one does not resume."""
        if thread_key in self._threads or thread_key in self._claiming:
            raise ThreadBusyError(f"thread {run.thread_id!r} already has an active run")
        if self._unsaved >= UNSAVED_RUNS or (
            self._unsaved and self._ended_bytes > self._retention_bytes
        ):  # memory holds what the store will not take: no more until it does
            raise StoreUnavailableError("the store is not taking the runs' events now")
        self._claiming.add(thread_key)  # one claim (and lookup) at a time per thread here
        key = run_key(principal, run.run_id)
        token = None
        started = False
        try:
            if self._keeper is not None:
                token = await self._keeper.claim(thread_key, key)
                if token is None:
                    raise ThreadBusyError(f"thread {run.thread_id!r} has an active run elsewhere")
            await self._recall(key, run, agent, thread_key, principal)
            record = self.start(
                graph,
                run,
                agent=agent,
                thread_key=thread_key,
                principal=principal,
                claim=token,
                **options,
            )
            started = True
        finally:
            self._claiming.discard(thread_key)
            if not started and token is not None and self._keeper is not None:
                self._keeper.release(thread_key, token)  # not started: the claim goes
        return record

    async def _recall(
        self,
        key: str,
        run: RunAgentInput,
        agent: str,
        thread_key: str,
        principal: str | None,
    ) -> None:
        """Bring a run id the store knows into memory: the interrupted run this
        one resumes under its id (its log is continued), else ``RunExistsError``.
        Another process may have continued a run since this one ended it: with
        a shared store, memory is trusted only for what it has not saved."""
        if self._logs is None or key in self._active:
            return
        known = self._ended.get(key)
        if known is not None:
            if not self._from_store(known):
                return
            self._forget(key, known)
        stored = await self._logs.find_run(key)
        if stored is None:
            return
        if not (
            stored.closed
            and stored.interrupted
            and stored.kept
            and is_resume(run)
            and (stored.agent, stored.thread_key, stored.principal)
            == (agent, thread_key, principal)
            and await self._logs.newest_run(thread_key) == key
        ):
            raise RunExistsError(f"run {run.run_id!r} already exists")
        frames = await self._logs.read_run(key, 0)
        record = RunRecord(
            stored.run_id, thread_key, stored.agent, principal, "cancel", RunLog.restored(frames)
        )
        record.interrupted = True
        self._ended[key] = record  # not trimmed: the resume takes it at once
        self._latest[thread_key] = run.run_id

    def _from_store(self, record: RunRecord) -> bool:
        """An ended run is read from the store, not memory: the store took it
        from us, or other processes share it and it has all of it."""
        return record.lost or (self._keeper is not None and not record.unsaved)

    def _forget(self, key: str, record: RunRecord) -> None:
        """Drop an ended run from memory."""
        del self._ended[key]
        self._ended_bytes -= record.size
        self._unsaved -= record.unsaved > 0
        if self._latest.get(record.thread_key) == record.run_id:
            del self._latest[record.thread_key]

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
            key = run_key(principal, run_id)
            if self._keeper is not None and await self._keeper.request_cancel(key):
                return
            stored = None if self._logs is None else await self._logs.find_run(key)
            if stored is not None:
                raise RunEndedError(f"run {run_id!r} is not running") from None
            raise

    async def find(self, run_id: str, principal: str | None = None) -> RunLog | StoredLog:
        """The run's log: in memory while this process has it, else as the store
        has it (a run of another process, or of one gone: closed then as lost)."""
        key = run_key(principal, run_id)
        record = self._active.get(key) or self._ended.get(key)
        if self._logs is None or (
            record is not None and (key in self._active or not self._from_store(record))
        ):
            return self.get(run_id, principal).log
        stored = await self._logs.find_run(key)
        if stored is None and await self._logs.running(key):
            # Just started elsewhere: its first batch is on its way to the store.
            await self._logs.wait_run(key, 0, FIRST_SAVE_SECONDS)
            stored = await self._logs.find_run(key)
        if stored is None:
            raise RunNotFoundError(f"no run {run_id!r}")
        if not stored.kept:
            raise _expired(run_id)
        if not stored.closed:
            await self._logs.close_lost_run(key, self.owner)
        return StoredLog(self._logs, key, self.owner)

    def _snapshot_memo(self, thread_key: str) -> SnapshotMemo:
        """The thread's last snapshot, now the most recently used."""
        memo = self._snapshots.pop(thread_key, None) or SnapshotMemo()
        self._snapshots[thread_key] = memo
        self._trim_snapshots()
        return memo

    def _trim_snapshots(self) -> None:
        """Forget the least recently used threads' snapshots past
        ``SNAPSHOT_THREADS`` or ``SNAPSHOT_BYTES``: when a run starts, and when
        one ends (its snapshot, made last, may have grown past the bound)."""
        held = sum(kept.size for kept in self._snapshots.values())
        while len(self._snapshots) > SNAPSHOT_THREADS or held > SNAPSHOT_BYTES:
            _, oldest = self._snapshots.popitem(last=False)
            held -= oldest.size

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
        claim: str | None = None,
    ) -> RunRecord:
        """Claim the thread and start the run in the background (atomic: no await).

        A run id already known is refused, except by a resume of the thread's
        latest run when that run ended interrupted: it continues that run's record.
        ``claim``: the token of the thread's claim in a shared store, if taken.
        """
        if thread_key in self._threads:
            raise ThreadBusyError(f"thread {run.thread_id!r} already has an active run")
        record = self._record_for(run, agent, thread_key, principal, on_disconnect)
        opts = replace(
            options or RunOptions(),
            thread_key=thread_key,
            snapshots=self._snapshot_memo(thread_key),
        )
        # The GraphRun (mapper state, the thread's messages) lives only as long as
        # the run: an ended run keeps just its log, for re-attach.
        graph_run = GraphRun(graph, run, opts)
        record.start_seq = record.log.last_seq
        record.claim = claim
        graph_run.start(record.log)
        self._active[record.key] = record
        self._threads[thread_key] = run.run_id
        self._latest[thread_key] = run.run_id
        record.task = asyncio.create_task(
            graph_run.run(record.log), name=f"graphwire-run-{run.run_id}"
        )
        record.task.add_done_callback(lambda _task: self._settle(record, graph_run))
        if self._logs is not None:
            self._save(record, self._logs)
        return record

    def _save(self, record: RunRecord, logs: RunLogs) -> None:
        """Start saving the (re)started run's events; after the saver of its
        earlier (re)start under this id, if that one is still at work."""
        row = StoredRun(
            record.run_id,
            record.thread_key,
            record.agent,
            record.principal,
            self.owner,
            record.start_seq,
            record.start_seq,
            closed=False,
            interrupted=False,
            started_at=time.time(),
        )
        end = record.end = RunEnd()
        saver = LogSaver(logs, record.key, row, record.log, end)
        record.unsaved += 1
        record.saver = asyncio.create_task(
            self._keep_saving(record, saver, record.saver, record.claim),
            name=f"graphwire-save-{record.run_id}",
        )
        self._savers.add(record.saver)
        record.saver.add_done_callback(self._savers.discard)

    async def _keep_saving(
        self,
        record: RunRecord,
        saver: LogSaver,
        earlier: asyncio.Task[None] | None,
        claim: str | None,
    ) -> None:
        """Save the run's events; then let its thread's claim go (the store has
        its end first: no process takes the run for lost) and its memory be
        trimmed. A saver that fails stops its run, and lets the thread go only
        once the run is over: its events would be lost."""
        run = record.task
        kept: bool | None = None
        try:
            if earlier is not None:
                await asyncio.wait({earlier})
            kept = await saver.run()
        except Exception:
            logger.exception("run %s: saving its events failed; stopping it", record.run_id)
        finally:
            record.unsaved -= 1
            if not record.unsaved and self._ended.get(record.key) is record:
                self._unsaved -= 1
        if kept is False:
            record.lost = True  # the store took the log: it says what the log is
        if not kept:
            if self._active.get(record.key) is record:
                self._stop(record.key)
            if run is not None:
                await asyncio.wait({run})
        if claim is not None and self._keeper is not None:
            self._keeper.release(record.thread_key, claim)
        self._trim()

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
        self._forget(key, known)
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
        if self._keeper is not None and self._logs is None and record.claim is not None:
            self._keeper.release(record.thread_key, record.claim)
        # Still waiting when this run waits again, or when its resume was refused
        # before the graph ran (a wrong interrupt id): the client may try again.
        record.interrupted = graph_run.interrupted or (record.interrupted and graph_run.refused)
        record.end.settle(record.log.last_seq, record.interrupted)
        record.size = record.log.size()
        self._ended[record.key] = record
        self._ended_bytes += record.size
        self._unsaved += record.unsaved > 0
        self._trim()
        self._trim_snapshots()

    def _trim(self) -> None:
        """Forget the oldest ended runs past the retention limits (saved ones
        only: a log the store does not have yet stays). With a store other
        processes share, every saved one: the store says what its log is."""
        cache = self._keeper is None
        for key, record in list(self._ended.items()):
            if cache and (
                len(self._ended) <= self._retention
                and (self._ended_bytes <= self._retention_bytes or len(self._ended) <= 1)
            ):
                return
            if not record.unsaved:
                self._expire(key, record)

    def _expire(self, key: str, record: RunRecord) -> None:
        self._forget(key, record)
        if self._logs is not None:
            return  # the store serves it from now on
        self._expired[key] = None
        if len(self._expired) > 10 * self._retention:
            self._expired.popitem(last=False)

    def get(self, run_id: str, principal: str | None = None) -> RunRecord:
        """The active or kept run (``RunNotFoundError``; ``RunExpiredError`` once
        its log is no longer kept)."""
        key = run_key(principal, run_id)
        record = self._active.get(key) or self._ended.get(key)
        if record is None and key in self._expired:
            raise _expired(run_id)
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
        """The id of the thread's active run in this process, if it has one."""
        return self._threads.get(thread_key)

    async def active_run_anywhere(self, thread_key: str, principal: str | None) -> str | None:
        """The id of the thread's active run, in whichever process runs it (a
        browser reloaded behind a load balancer re-attaches to it through any)."""
        here = self._threads.get(thread_key)
        if here is not None or self._keeper is None:
            return here
        key = await self._keeper.claimed_run(thread_key)
        if key is None or key in self._ended:  # ours, ended: its end is being stored
            return None
        mine = run_key(principal, "")
        return key[len(mine) :] if key.startswith(mine) else None

    def cancel_all(self) -> None:
        """Cancel every active run now (shutdown); each log ends with outcome cancelled."""
        for record in list(self._active.values()):
            if record.task is not None:
                record.task.cancel()

    async def aclose(self, timeout: float = CLOSE_SECONDS) -> None:
        """Cancel every active run, wait for each to close its log and for the
        store to take its last events, release the threads' claims: all within
        ``timeout`` seconds (a store that stays unavailable). What is left then
        is logged and left as a crash leaves it: an unsaved run is lost, a claim
        lapses with its lease."""
        deadline = Deadline(timeout).start()
        runs = {r.task: r for r in self._active.values() if r.task is not None}
        for task in runs:
            task.cancel()
        late = await stop_within(runs, deadline.left())
        if late:
            logger.error("%d runs did not stop within the shutdown's grace", len(late))
        unsaved = await stop_within(set(self._savers), deadline.left())
        if unsaved:
            logger.error("%d runs' last events could not be stored before shutdown", len(unsaved))
        if self._keeper is not None:
            # A run still going may still write: its thread stays claimed until its lease ends.
            going = {runs[task].thread_key for task in late if not task.done()}
            await self._keeper.aclose(deadline.left(), keep=going)


def _expired(run_id: str) -> RunExpiredError:
    return RunExpiredError(f"run {run_id!r} ended and its events are no longer kept")
