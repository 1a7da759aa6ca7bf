"""The TaskStore protocol and what every store shares.

A store keeps tasks and their event logs and applies the transitions of
``tasks.stores._model`` atomically. Implementations provide a handful of primitives
(``_apply``, ``_insert``, queries, event rows); the domain methods and the
wake-ups live here once, so memory, SQLite and later PostgreSQL behave alike —
one contract suite (tests/tasks/test_store_contract.py) runs against each.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
    Sized,
)
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from pydantic import TypeAdapter

import graphwire.tasks.stores._model as m
from graphwire.protocol import ErrorCode, closing_events
from graphwire.runs import RunLogs, StoredRun, ThreadClaims, encode_event
from graphwire.tasks.stores._model import (
    Lease,
    RunOutcome,
    Task,
    TaskEvent,
    TaskPage,
    TaskQuery,
    TaskSpec,
)

WORK = "__work__"
"""The signal key workers wait on: something became runnable or a slot freed."""


def events_key(task_id: str) -> str:
    """The signal key of a task's log (its row changes fire the task id itself)."""
    return f"{task_id}#events"


def run_events_key(run_key: str) -> str:
    """The signal key of a foreground run's log."""
    return f"run:{run_key}"


@runtime_checkable
class TaskStore(Protocol):
    """Durable tasks and their AG-UI event logs (domain-level, not SQL). Every
    change is one of ``tasks.stores._model``'s transitions, applied atomically;
    writes by a worker are fenced by its lease (owner and attempt)."""

    async def create(self, spec: TaskSpec) -> Task:
        """Store a new queued task."""

    async def get(self, task_id: str) -> Task:
        """The task (``TaskNotFoundError`` when there is none)."""

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        """A page of the board, newest first, filtered by ``query``."""

    async def claim_next(
        self, owner: str, run_id: str, lease_seconds: float, agents: Collection[str] | None
    ) -> Task | None:
        """Take the oldest runnable task (of ``agents``, if given) for ``owner``:
        it is ongoing under a new lease and run ``run_id``; None if none is ready."""

    async def renew_lease(self, task_id: str, lease: Lease) -> Task:
        """Extend the lease (``LeaseLostError`` when another attempt owns the task)."""

    async def settle(
        self, task_id: str, lease: Lease, outcome: RunOutcome, final: Sequence[str] = ()
    ) -> Task:
        """End the run: log its last events and map its outcome onto the board, in
        one transaction."""

    async def cancel(self, task_id: str) -> Task:
        """Cancel a queued, ongoing or in-review task."""

    async def retry(self, task_id: str) -> Task:
        """Queue a failed or cancelled task again (it continues from its checkpoint)."""

    async def followup(self, task_id: str, message: str, run_id: str | None = None) -> Task:
        """Queue a settled task's thread again with a new user message."""

    async def resume(
        self, task_id: str, entries: Sequence[Mapping[str, Any]], run_id: str | None = None
    ) -> Task:
        """Answer every open interrupt of a task in review and queue it."""

    async def requeue_expired(self) -> list[Task]:
        """Give up the tasks whose lease ran out (their run's log is closed) and queue
        the ongoing ones again."""

    async def append_events(
        self, task_id: str, lease: Lease, run_id: str, frames: Sequence[str]
    ) -> int:
        """Log encoded events under the task's current run; returns the last seq."""

    async def read_events(
        self, task_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[TaskEvent]:
        """The logged events after ``after_seq``, in order."""

    async def last_seq(self, task_id: str) -> int:
        """The seq of the task's last logged event (0: none yet)."""

    async def wait_events(self, task_id: str, after_seq: int, timeout: float) -> bool:
        """Wait until an event after ``after_seq`` is logged; False on timeout."""

    async def wait_change(self, task_id: str, version: int, timeout: float) -> Task | None:
        """Wait until the task is newer than ``version``; None on timeout."""

    def watch_work(self) -> AbstractContextManager[asyncio.Future[None]]:
        """While entered: a future that resolves when a task may have become runnable."""

    def watch_task(self, task_id: str) -> asyncio.Future[None]:
        """A future that resolves at the task's next change (undo with ``unwatch_task``)."""

    def unwatch_task(self, task_id: str, future: asyncio.Future[None]) -> None:
        """Drop a watch made by ``watch_task``."""

    async def probe(self) -> None:
        """Return when the store can be written now, else raise ``StoreUnavailableError``."""

    def thread_claims(self) -> ThreadClaims | None:
        """Where runs claim their threads when other processes share this store
        (one run per thread across all of them); None for a store one process
        owns."""

    def run_logs(self) -> RunLogs | None:
        """Where the foreground runs' logs are kept, when the store outlives the
        process (docs/adr/0012-durable-run-logs.md); None for one in memory."""

    async def aclose(self) -> None:
        """Release the store's resources."""


class Signals:
    """In-process wake-ups keyed by task id (or ``WORK``): no polling loops.

    Arm before checking, check, then wait: a change between the check and the
    wait still wakes the waiter.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def arm(self, key: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(future)
        return future

    def disarm(self, key: str, future: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(key)
        if waiters is not None:
            waiters.discard(future)
            if not waiters:
                del self._waiters[key]
        future.cancel()

    def fire_all(self) -> None:
        """Wake every waiter (a store that may have missed changes)."""
        self.fire(*list(self._waiters))

    def fire(self, *keys: str) -> None:
        for key in keys:
            for future in self._waiters.pop(key, ()):
                if not future.done():
                    future.set_result(None)


class BaseTaskStore(TaskStore, abc.ABC):
    """The domain methods, written once over a few storage primitives."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._signals = Signals()
        self._cancel_requested: list[Callable[[str], None]] = []

    def on_cancel_request(self, stop: Callable[[str], None]) -> None:
        """See ``runs.ThreadClaims`` (for the stores that claim threads)."""
        self._cancel_requested.append(stop)

    def _cancel_asked(self, run_key: str) -> None:
        for stop in self._cancel_requested:
            stop(run_key)

    # -- primitives each store provides --------------------------------------------

    @abc.abstractmethod
    async def _insert(self, task: Task) -> None: ...

    @abc.abstractmethod
    async def _apply(
        self, task_id: str, change: Callable[[Task], Task], frames: Sequence[str] = ()
    ) -> Task:
        """Atomically load the task, apply ``change``, append ``frames`` to its log
        (under its current run id), store and return the result."""

    @abc.abstractmethod
    async def get(self, task_id: str) -> Task: ...

    @abc.abstractmethod
    async def list_tasks(self, query: TaskQuery) -> TaskPage: ...

    @abc.abstractmethod
    async def claim_next(
        self, owner: str, run_id: str, lease_seconds: float, agents: Collection[str] | None
    ) -> Task | None: ...

    @abc.abstractmethod
    async def requeue_expired(self) -> list[Task]: ...

    @abc.abstractmethod
    async def append_events(
        self, task_id: str, lease: Lease, run_id: str, frames: Sequence[str]
    ) -> int: ...

    @abc.abstractmethod
    async def read_events(
        self, task_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[TaskEvent]: ...

    @abc.abstractmethod
    async def last_seq(self, task_id: str) -> int: ...

    @abc.abstractmethod
    async def aclose(self) -> None: ...

    @abc.abstractmethod
    async def probe(self) -> None: ...

    def thread_claims(self) -> ThreadClaims | None:
        return None

    def run_logs(self) -> RunLogs | None:
        return None

    # -- domain methods --------------------------------------------------------------

    async def create(self, spec: TaskSpec) -> Task:
        task = m.new_task(spec, self._clock())
        await self._insert(task)
        self._signals.fire(task.id, WORK)
        return task

    async def _update(
        self, task_id: str, change: Callable[[Task], Task], frames: Sequence[str] = ()
    ) -> Task:
        task = await self._apply(task_id, change, frames)
        self._signals.fire(task_id, *((events_key(task_id),) if frames else ()))
        return task

    async def renew_lease(self, task_id: str, lease: Lease) -> Task:
        return await self._update(task_id, lambda t: m.renew(t, lease, self._clock()))

    async def settle(
        self, task_id: str, lease: Lease, outcome: RunOutcome, final: Sequence[str] = ()
    ) -> Task:
        """Record the run's outcome together with its last events (the terminal one):
        a crash leaves either both or neither, never a logged end with no outcome."""
        task = await self._update(
            task_id, lambda t: m.settle(t, lease, outcome, self._clock()), final
        )
        if task.runnable:  # handed back (the runner stopped): another worker may take it
            self._signals.fire(WORK)
        return task

    async def cancel(self, task_id: str) -> Task:
        return await self._update(task_id, lambda t: m.cancel(t, self._clock()))

    async def retry(self, task_id: str) -> Task:
        return await self._ready(task_id, lambda t: m.retry(t, self._clock()))

    async def followup(self, task_id: str, message: str, run_id: str | None = None) -> Task:
        return await self._ready(task_id, lambda t: m.followup(t, message, self._clock(), run_id))

    async def resume(
        self, task_id: str, entries: Sequence[Mapping[str, Any]], run_id: str | None = None
    ) -> Task:
        return await self._ready(task_id, lambda t: m.resume(t, entries, self._clock(), run_id))

    async def _ready(self, task_id: str, change: Callable[[Task], Task]) -> Task:
        task = await self._update(task_id, change)
        self._signals.fire(WORK)
        return task

    # -- waiting -----------------------------------------------------------------------

    async def wait_change(self, task_id: str, version: int, timeout: float) -> Task | None:
        """The task once its version exceeds ``version``; None on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    future = self._signals.arm(task_id)
                    try:
                        task = await self.get(task_id)
                        if task.version > version:
                            return task
                        await future
                    finally:
                        self._signals.disarm(task_id, future)
        except TimeoutError:
            return None

    async def wait_events(self, task_id: str, after_seq: int, timeout: float) -> bool:
        """Wait for an event after ``after_seq`` or a change of the task; False on timeout."""
        return await self._wait_for(
            (task_id, events_key(task_id)),
            lambda: self.read_events(task_id, after_seq, limit=1),
            timeout,
        )

    async def _wait_for(
        self, keys: Sequence[str], look: Callable[[], Awaitable[Sized]], timeout: float
    ) -> bool:
        """True once ``look()`` finds something, or one of ``keys`` fires: armed
        before the look, so a change meanwhile still wakes; False on timeout."""
        futures = [self._signals.arm(key) for key in keys]
        try:
            if len(await look()):
                return True
            done, _ = await asyncio.wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
            return bool(done)
        finally:
            for key, future in zip(keys, futures, strict=True):
                self._signals.disarm(key, future)

    @contextlib.contextmanager
    def watch_work(self) -> Iterator[asyncio.Future[None]]:
        """A future that resolves when something may have become claimable.

        Enter before ``claim_next``: work that arrives during the claim still
        wakes the worker.
        """
        future = self._signals.arm(WORK)
        try:
            yield future
        finally:
            self._signals.disarm(WORK, future)

    def watch_task(self, task_id: str) -> asyncio.Future[None]:
        """A future that resolves at the next change of the task's row (made in this
        process). Arm it before reading the row; pass it to ``unwatch_task`` after."""
        return self._signals.arm(task_id)

    def unwatch_task(self, task_id: str, future: asyncio.Future[None]) -> None:
        self._signals.disarm(task_id, future)

    def _fire(self, *keys: str) -> None:
        self._signals.fire(*keys)


class DurableTaskStore(BaseTaskStore, RunLogs):
    """A store that outlives the process (SQLite, PostgreSQL): it keeps the
    foreground runs' logs too (``runs.RunLogs``)."""

    kept_runs: int | None = 10
    """How many of a thread's ended runs keep their logs besides its newest
    (None: all); an older run's log is dropped, its row stays (410
    ``RUN_EXPIRED``): a thread's stored logs grow with its messages, not with
    the square of them (every run logs the whole MESSAGES_SNAPSHOT)."""

    def run_logs(self) -> RunLogs:
        return self

    @abc.abstractmethod
    async def find_run(self, run_key: str) -> StoredRun | None: ...

    @abc.abstractmethod
    async def write_run(self, run_key: str, run: StoredRun, frames: Sequence[str]) -> bool: ...

    @abc.abstractmethod
    async def read_run(self, run_key: str, after: int, limit: int | None = None) -> list[str]: ...

    @abc.abstractmethod
    async def close_lost_run(self, run_key: str, owner: str) -> None: ...

    @abc.abstractmethod
    async def running(self, run_key: str) -> bool: ...

    async def wait_run(self, run_key: str, after: int, timeout: float) -> bool:
        """See ``runs.RunLogs``."""
        return await self._wait_for(
            (run_events_key(run_key),), lambda: self.read_run(run_key, after, 1), timeout
        )


TASK_COLUMNS = (
    "id, agent, state, parent_run_id, parent_task_id, parent_thread_id, principal, "
    "created_at, ready_at, lease_owner, lease_expires_at, attempt, body"
)
"""A SQL store's task row: the columns queries filter on, and the whole Task
as JSON (the source of truth)."""
TASK_JSON: TypeAdapter[Task] = TypeAdapter(Task)
"""A task as its row's body holds it."""


def task_row(task: Task) -> tuple[Any, ...]:
    """The values of ``TASK_COLUMNS`` for ``task``."""
    return (
        task.id,
        task.agent,
        task.state.value,
        task.parent_run_id,
        task.parent_task_id,
        task.parent_thread_id,
        task.principal,
        task.created_at,
        task.ready_at,
        task.lease_owner,
        task.lease_expires_at,
        task.attempt,
        TASK_JSON.dump_json(task).decode(),
    )


def changed_row(task: Task) -> tuple[Any, ...]:
    """What a change can touch — state, ready_at, lease_owner, lease_expires_at,
    attempt, body — then the id (an UPDATE's parameters)."""
    return (
        task.state.value,
        task.ready_at,
        task.lease_owner,
        task.lease_expires_at,
        task.attempt,
        TASK_JSON.dump_json(task).decode(),
        task.id,
    )


BOARD_FILTERS = ("agent", "parent_task_id", "parent_run_id", "parent_thread_id")


def board_where(query: TaskQuery, mark: str, same: str) -> tuple[str, tuple[Any, ...]]:
    """A SQL store's WHERE clause for a board page and its parameters, ``mark``
    being the driver's placeholder and ``same`` its null-safe equality."""
    clauses: list[str] = []
    args: list[Any] = []
    if query.states is not None:
        clauses.append(f"state IN ({', '.join([mark] * len(query.states))})")
        args.extend(sorted(s.value for s in query.states))
    for column in BOARD_FILTERS:
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"{column} = {mark}")
            args.append(value)
    if query.scoped:
        clauses.append(f"principal {same} {mark}")
        args.append(query.principal)
    if query.cursor is not None:
        created, task_id = decode_cursor(query.cursor)
        clauses.append(f"(created_at < {mark} OR (created_at = {mark} AND id < {mark}))")
        args.extend((created, created, task_id))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)


def board_page(bodies: Iterable[str], limit: int) -> TaskPage:
    """A page from up to ``limit + 1`` task rows' bodies (one more: a next page)."""
    tasks = tuple(TASK_JSON.validate_json(body) for body in bodies)
    page = tasks[:limit]
    more = len(tasks) > limit
    return TaskPage(page, encode_cursor(page[-1]) if more and page else None)


TASK_LOST = "The process running this task stopped; the task runs again from its last checkpoint."
RUN_LOST = "The process running this run stopped."


def closing_frames(frames: Sequence[str], message: str = TASK_LOST) -> list[str]:
    """Frames that end a run cut short by a dead worker (nothing if it ended)."""
    if not frames:
        return []
    events = closing_events((json.loads(f) for f in frames), ErrorCode.WORKER_LOST, message)
    return [encode_event(e) for e in events]


RUN_FIELDS = tuple(f.name for f in dataclasses.fields(StoredRun))
RUN_COLUMNS = ", ".join(RUN_FIELDS)
"""A SQL store's row of a foreground run: ``runs.StoredRun``'s fields, after its key."""


class RunSql:
    """The statements a SQL store's run logs take, in its driver's placeholder."""

    def __init__(self, mark: str) -> None:
        m = mark
        self.find = f"SELECT {RUN_COLUMNS} FROM graphwire_runs WHERE run_key = {m}"
        self.put = (
            f"INSERT INTO graphwire_runs (run_key, {RUN_COLUMNS}) "
            f"VALUES ({', '.join([m] * (1 + len(RUN_FIELDS)))}) "
            f"ON CONFLICT (run_key) DO UPDATE SET {RUN_UPSERT}"
        )
        self.append = (
            f"INSERT INTO graphwire_run_events (run_key, seq, frame) VALUES ({m}, {m}, {m})"
        )
        self.read = (
            f"SELECT frame FROM graphwire_run_events WHERE run_key = {m} AND seq > {m} "
            f"ORDER BY seq LIMIT {m}"
        )
        self.retention = retention(thread=m, key=m, newest=m) + " RETURNING run_key, kept"
        self.drop = f"DELETE FROM graphwire_run_events WHERE run_key = {m}"
        self.newest = (
            f"SELECT run_key FROM graphwire_runs WHERE thread_key = {m} "
            "ORDER BY started_at DESC LIMIT 1"
        )


RUN_UPSERT = (
    "owner = excluded.owner, start_seq = excluded.start_seq, last_seq = excluded.last_seq, "
    "closed = excluded.closed, interrupted = excluded.interrupted, "
    "started_at = excluded.started_at, kept = excluded.kept"
)
"""What a write changes in a run's row."""


def retention(thread: str, key: str, newest: str) -> str:
    """The UPDATE that a (re)start of run ``key`` makes of its thread's other
    ended runs: only the ``newest`` of them (a count; NULL or -1: all) keep
    their events. It touches the runs still kept only: a thread's retention
    costs the same at its 10th run and at its 10,000th."""
    others = (
        f"SELECT run_key FROM graphwire_runs WHERE thread_key = {thread} AND run_key <> {key} "
        f"ORDER BY started_at DESC LIMIT {newest}"
    )
    return (
        f"UPDATE graphwire_runs SET kept = run_key IN ({others}) "
        f"WHERE thread_key = {thread} AND run_key <> {key} AND closed AND kept"
    )


def first_write(run: StoredRun, count: int) -> bool:
    """A write of ``count`` frames ending at ``run.last_seq`` is its (re)start's first."""
    return run.last_seq - count == run.start_seq


def fits(known: StoredRun | None, run: StoredRun, count: int) -> bool:
    """A write of ``count`` frames ending at ``run.last_seq`` may land on the
    stored row ``known`` (``runs.RunLogs.write_run``)."""
    after = run.last_seq - count
    if known is None:
        return after == 0
    if known.last_seq != after:
        return False
    if first_write(run, count):  # a resume of an interrupted run
        return known.closed and known.interrupted
    return not known.closed and known.owner == run.owner


def run_values(run_key: str, run: StoredRun) -> tuple[Any, ...]:
    """The parameters of ``RunSql.put``."""
    return (run_key, *(getattr(run, name) for name in RUN_FIELDS))


def stored_run(row: Sequence[Any]) -> StoredRun:
    """A ``RunSql.find`` row as the run it describes."""
    run_id, thread, agent, principal, owner, start, last, closed, interrupted, at, kept = row
    return StoredRun(
        run_id,
        thread,
        agent,
        principal,
        owner,
        int(start),
        int(last),
        bool(closed),
        bool(interrupted),
        float(at),
        bool(kept),
    )


def event_rows(run_key: str, run: StoredRun, frames: Sequence[str]) -> list[tuple[Any, ...]]:
    """The parameters of ``RunSql.append`` for the frames that end at ``run.last_seq``."""
    first = run.last_seq - len(frames)
    return [(run_key, first + i, frame) for i, frame in enumerate(frames, 1)]


def lost_run(run: StoredRun, frames: Sequence[str]) -> tuple[StoredRun, list[str]]:
    """The row and the closing frames of a run found lost (``frames``: its
    latest run's events)."""
    closing = closing_frames(frames, RUN_LOST)
    ended = dataclasses.replace(
        run, last_seq=run.last_seq + len(closing), closed=True, interrupted=False
    )
    return ended, closing


def encode_cursor(task: Task) -> str:
    return f"{task.created_at!r}|{task.id}"


def decode_cursor(cursor: str) -> tuple[float, str]:
    created, _, task_id = cursor.partition("|")
    try:
        return float(created), task_id
    except ValueError:
        raise m.TaskInputError(f"bad page cursor {cursor!r}") from None
