"""The database thread of one SQLite file: jobs run in order, in group-committed
transactions, and their results go back to the event loop in batches.

Each job is atomic on its own (a SAVEPOINT: a job that raises leaves nothing
behind), and the jobs that queue up while the thread is busy share one
``BEGIN IMMEDIATE … COMMIT``. A result is handed back only after its COMMIT,
so nobody sees a write that might still be lost; if the COMMIT fails, every
job of the batch fails with it, and so does it when a job ends the shared
transaction itself (a COMMIT or ROLLBACK of its own, ``executescript``): what
came before it may be lost. A job that fails in any way fails alone; the
thread goes on. Under load this turns many small transactions
into a few larger ones — the checkpointer's puts, a task's claim, its log
appends and its outcome land together (docs/adr/0005-task-engine.md).

Read jobs take no write lock: outside a batch they run in a read transaction
of their own, so another process holding the write lock does not stop them.
SQLite failures that mean "the store cannot be used now" (locked past the
busy timeout, read-only, full, I/O error, not a database) reach the caller as
``StoreUnavailableError``, and before every batch, COMMIT and read the file's
``check`` refuses a database whose file or write-ahead log was deleted or
replaced (docs/adr/0009-hostile-input.md).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from graphwire.protocol import GraphwireError, StoreUnavailableError

_T = TypeVar("_T")
HAND_BACK_SECONDS = 0.001
"""Longest a finished result waits (uncommitted) while the thread works on."""
LOCK_SLICE_SECONDS = 0.05
"""A job waits for another process's lock in slices this long (``_waiting``)."""

Target = asyncio.Future[Any] | concurrent.futures.Future[Any]
Mode = Literal["write", "read", "raw"]
"""A job writes (in the batch's IMMEDIATE transaction), only reads (no write
lock), or runs outside any transaction (connect, close, scripts that commit
themselves)."""
_UNAVAILABLE = frozenset(
    getattr(sqlite3, name)
    for name in (
        "SQLITE_PERM",
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_READONLY",
        "SQLITE_IOERR",
        "SQLITE_CORRUPT",
        "SQLITE_FULL",
        "SQLITE_CANTOPEN",
        "SQLITE_PROTOCOL",
        "SQLITE_NOTADB",
    )
)


@dataclass(frozen=True, slots=True)
class _Job:
    target: Target
    fn: Callable[[], Any]
    mode: Mode
    asked: float = field(default_factory=time.monotonic)
    """When it was submitted: its wait for another process's lock counts from then."""


@dataclass(frozen=True, slots=True)
class _Result:
    target: Target
    ok: bool
    value: Any


class TransactionEndedError(GraphwireError):
    """A job ended the batch's shared transaction itself (jobs that must, such as
    scripts, run with ``mode="raw"``); the batch's earlier jobs fail with it."""


class _BatchLost(Exception):
    """SQLite ended the batch's transaction itself: ``error`` fails every job of it."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Dry:
    """The queue is empty (for now)."""


_DRY = _Dry()


class DatabaseThread:
    """Runs submitted functions against ``conn`` on one thread. Urgent jobs — the
    task store's, which workers and clients wait on — go before queued
    checkpoint writes. ``check`` raises ``StoreUnavailableError`` when the
    database may no longer be used (its file is gone)."""

    def __init__(
        self,
        name: str,
        check: Callable[[], None] = lambda: None,
        undone: Callable[[], None] = lambda: None,
        busy_timeout: float = 10.0,
        reopen: Callable[[sqlite3.Connection], sqlite3.Connection] = lambda conn: conn,
    ) -> None:
        """``undone`` is called (on this thread) whenever rows written are rolled
        back. ``busy_timeout``: how long a job waits, from when it was asked, for
        the write lock another process holds; jobs queued behind one that waits
        have been waiting too, and do not wait it all again each in turn.
        ``reopen(conn)`` closes ``conn`` for a new connection (on this thread,
        outside a transaction) before the next write after SQLite refused one
        as read-only: a connection opened when the file could not be written
        stays read-only after it can."""
        self.conn: sqlite3.Connection | None = None
        """Bound by the connect job, unbound by the close job (both on this thread)."""
        self._check = check
        self._undone = undone
        self._busy_timeout = busy_timeout
        self._reopen = reopen
        self._read_only = False
        """SQLite refused a write as read-only: the next write reopens first."""
        self._closing = False
        self._urgent: collections.deque[_Job | None] = collections.deque()
        self._normal: collections.deque[_Job | None] = collections.deque()
        self._wake: queue.SimpleQueue[None] = queue.SimpleQueue()  # one token per job
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[], _T], *, urgent: bool = False, mode: Mode = "write") -> _T:
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._put(_Job(future, fn, mode), urgent)
        return await future

    def call_blocking(self, fn: Callable[[], _T], mode: Mode = "write") -> _T:
        """Run ``fn`` on the thread and wait for it (for synchronous callers)."""
        if threading.current_thread() is self._thread:
            return fn()
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        self._put(_Job(future, fn, mode), urgent=True)
        return future.result()

    def closing(self) -> None:
        """From now on a job does not wait for another process's write lock: the
        jobs before the close run, or fail at once."""
        self._closing = True

    def stop(self) -> None:
        """Finish the queued jobs, then end the thread."""
        self._put(None, urgent=False)

    def _put(self, job: _Job | None, urgent: bool) -> None:
        (self._urgent if urgent else self._normal).append(job)
        self._wake.put(None)

    def _next(self, block: bool) -> _Job | _Dry | None:
        try:
            self._wake.get(block=block)
        except queue.Empty:
            return _DRY
        return self._urgent.popleft() if self._urgent else self._normal.popleft()

    def _serve(self) -> None:
        done: list[_Result] = []
        since = 0.0
        while True:
            job = self._next(block=not done)
            raw = isinstance(job, _Job) and job.mode == "raw"
            if not isinstance(job, _Job) or raw or time.monotonic() - since > HAND_BACK_SECONDS:
                # The queue ran dry, a raw job comes, or results waited long enough:
                # commit what is done and hand it back in one wake-up of the loop.
                _post(self._committed(done))
                done = []
            if job is None:
                return
            if isinstance(job, _Dry):
                continue
            if not done:
                since = time.monotonic()
            try:
                done.append(self._run_raw(job) if raw else self._run(job))
            except (TransactionEndedError, _BatchLost) as exc:
                self._undone()
                error = exc.error if isinstance(exc, _BatchLost) else exc
                done = [
                    *(_Result(r.target, False, error) if r.ok else r for r in done),
                    _Result(job.target, False, error),
                ]
            except Exception as exc:  # anything else fails this job alone, never the thread
                done.append(_Result(job.target, False, exc))

    def _run(self, job: _Job) -> _Result:
        conn = self.conn
        if conn is None:
            return _Result(job.target, False, RuntimeError("the database is closed"))
        if job.mode == "read" and not conn.in_transaction:
            return self._run_read(conn, job)
        try:
            if not conn.in_transaction:
                self._check()
                conn = self._writable(conn)
                self._begin(conn, job)
            conn.execute("SAVEPOINT job")
        except (sqlite3.Error, StoreUnavailableError) as exc:
            return _Result(job.target, False, self._failed(exc))
        changes = conn.total_changes
        try:
            value = job.fn()
        except Exception as exc:  # the job's own failure: undone, handed to its caller
            if not conn.in_transaction:
                # SQLite rolled the whole batch back itself (a full disk, an I/O
                # error): the batch's earlier writes are gone too.
                raise _BatchLost(self._failed(exc)) from exc
            if conn.total_changes != changes:  # it wrote: what it wrote is undone
                self._undone()
            self._undo(conn)
            return _Result(job.target, False, self._failed(exc))
        self._release(conn)
        return _Result(job.target, True, value)

    def _writable(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """``conn``, or a new connection in its place if SQLite refused a write on
        it as read-only (it may write now: the file's permissions changed)."""
        if self._read_only:
            self.conn = conn = self._reopen(conn)
            self._read_only = False
            _busy(conn, LOCK_SLICE_SECONDS)
        return conn

    def _failed(self, exc: Exception) -> Exception:
        """What a job's caller gets for ``exc`` (``_store_error``); a read-only
        refusal makes the next write reopen the connection."""
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_READONLY:
            self._read_only = True
        return _store_error(exc)

    def _begin(self, conn: sqlite3.Connection, job: _Job) -> None:
        self._waiting(conn, job, lambda: conn.execute("BEGIN IMMEDIATE"))

    def _waiting(self, conn: sqlite3.Connection, job: _Job, attempt: Callable[[], _T]) -> _T:
        """``attempt()``, tried again while another process holds a lock it
        needs, until the busy timeout has passed since ``job`` was asked. Each
        try waits a slice at most (the connection's standing busy timeout): a
        job whose caller has stopped waiting (cancelled: a shutdown past its
        grace), or whose file is closing, gives up after the slice it is in,
        and one given up already tries once, without waiting."""
        ends = job.asked + self._busy_timeout
        wait = LOCK_SLICE_SECONDS
        try:
            while True:
                # Racy reads of flags another thread sets: at worst a slice late.
                gone = self._closing or job.target.done()
                want = 0.0 if gone else min(LOCK_SLICE_SECONDS, ends - time.monotonic())
                if want != wait:  # only when it waited long in the queue, or gave up
                    _busy(conn, want)
                    wait = want
                try:
                    return attempt()
                except sqlite3.OperationalError as exc:
                    busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                    if not busy or gone or time.monotonic() >= ends:
                        raise
        finally:
            if wait != LOCK_SLICE_SECONDS:
                _busy(conn, LOCK_SLICE_SECONDS)

    def _run_read(self, conn: sqlite3.Connection, job: _Job) -> _Result:
        """A read outside any batch: its own read transaction, no write lock."""

        def read() -> Any:
            conn.execute("BEGIN")
            try:
                return job.fn()
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

        try:
            self._check()
            value = self._waiting(conn, job, read)
        except Exception as exc:  # the read's failure, handed to its caller
            return _Result(job.target, False, self._failed(exc))
        return _Result(job.target, True, value)

    @staticmethod
    def _release(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("RELEASE job")
        except sqlite3.OperationalError as exc:  # no savepoint: the job ended the transaction
            raise TransactionEndedError(
                "a database job ended the shared transaction itself"
            ) from exc

    @classmethod
    def _undo(cls, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("ROLLBACK TO job")
        except sqlite3.OperationalError as exc:
            raise TransactionEndedError(
                "a failing database job ended the shared transaction itself"
            ) from exc
        cls._release(conn)

    def _run_raw(self, job: _Job) -> _Result:
        """A job outside any transaction (connect, close, a schema script): it may
        wait for the write lock the whole busy timeout; then the connection's
        standing wait is a slice (``_waiting``)."""
        if self.conn is not None:
            _busy(self.conn, self._busy_timeout)
        try:
            return _Result(job.target, True, job.fn())
        except Exception as exc:  # handed to the caller, which raises it
            return _Result(job.target, False, self._failed(exc))
        finally:
            if self.conn is not None:
                _busy(self.conn, LOCK_SLICE_SECONDS)

    def _committed(self, done: list[_Result]) -> list[_Result]:
        """``done`` after its COMMIT; whatever goes wrong fails the batch, never
        the thread (a thread that died would leave every caller waiting)."""
        try:
            return self._commit(done)
        except Exception as exc:  # handed to every caller of the batch
            self._undone()
            return [_Result(r.target, False, exc) for r in done]

    def _commit(self, done: list[_Result]) -> list[_Result]:
        conn = self.conn
        if conn is None or not conn.in_transaction:
            return done
        try:
            self._check()
            conn.execute("COMMIT")
        except (sqlite3.Error, StoreUnavailableError) as exc:
            self._undone()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = self._failed(exc)
            return [_Result(r.target, False, error) if r.ok else r for r in done]
        return done


def _busy(conn: sqlite3.Connection, seconds: float) -> None:
    conn.execute(f"PRAGMA busy_timeout = {max(0, int(seconds * 1000))}")


def _store_error(exc: Exception) -> Exception:
    """``exc``, or a ``StoreUnavailableError`` when SQLite says the database cannot
    be used now (the cause stays attached)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in _UNAVAILABLE:
        return exc
    error = StoreUnavailableError(f"the database cannot be used now: {exc}")
    error.__cause__ = exc
    return error


def _post(done: list[_Result]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[_Result]] = {}
    for result in done:
        if isinstance(result.target, asyncio.Future):
            by_loop.setdefault(result.target.get_loop(), []).append(result)
        else:
            _settle(result)
    for loop, results in by_loop.items():
        loop.call_soon_threadsafe(_settle_all, results)


def _settle_all(results: list[_Result]) -> None:
    for result in results:
        _settle(result)


def _settle(result: _Result) -> None:
    target = result.target
    if target.done():
        return
    if result.ok:
        target.set_result(result.value)
    else:
        target.set_exception(result.value)
