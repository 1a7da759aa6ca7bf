"""SqliteTaskStore: the embedded default — one file, WAL, survives restarts.

By default the same file holds the LangGraph checkpoints
(langgraph-checkpoint-sqlite), so a task's board row, its event log and its
thread live together. Every change runs inside a ``BEGIN IMMEDIATE``
transaction: SQLite's write lock makes claims and fenced writes atomic across
processes.
The task row keeps the whole Task as JSON (the source of truth) beside the
columns the queries filter on.

Each domain operation runs as one atomic job on the file's database thread
(``SqliteFile``) — one hop from the event loop per operation, where a
statement-per-await driver needs four to six; jobs that queue up commit
together (docs/adr/0005-task-engine.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

import graphwire.tasks.stores._model as m
from graphwire.runs import StoredRun
from graphwire.tasks.stores._base import (
    TASK_COLUMNS,
    TASK_JSON,
    WORK,
    DurableTaskStore,
    RunSql,
    board_page,
    board_where,
    changed_row,
    closing_frames,
    event_rows,
    events_key,
    first_write,
    fits,
    lost_run,
    run_events_key,
    run_values,
    stored_run,
    task_row,
)
from graphwire.tasks.stores._model import Lease, Task, TaskEvent, TaskPage, TaskQuery
from graphwire.tasks.stores._sqlite_file import SqliteFile

_T = TypeVar("_T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS graphwire_tasks (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    state TEXT NOT NULL,
    parent_run_id TEXT,
    parent_task_id TEXT,
    parent_thread_id TEXT,
    principal TEXT,
    created_at REAL NOT NULL,
    ready_at REAL,
    lease_owner TEXT,
    lease_expires_at REAL,
    attempt INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS graphwire_tasks_ready ON graphwire_tasks (ready_at)
    WHERE ready_at IS NOT NULL AND lease_owner IS NULL;
CREATE INDEX IF NOT EXISTS graphwire_tasks_leased ON graphwire_tasks (lease_expires_at)
    WHERE lease_owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS graphwire_tasks_board ON graphwire_tasks (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS graphwire_tasks_parent ON graphwire_tasks (parent_task_id)
    WHERE parent_task_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS graphwire_tasks_parent_thread ON graphwire_tasks (parent_thread_id)
    WHERE parent_thread_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS graphwire_task_events (
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    frame TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS graphwire_runs (
    run_key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    agent TEXT NOT NULL,
    principal TEXT,
    owner TEXT NOT NULL,
    start_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    closed INTEGER NOT NULL,
    interrupted INTEGER NOT NULL,
    started_at REAL NOT NULL,
    kept INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS graphwire_runs_thread ON graphwire_runs (thread_key, started_at);
CREATE TABLE IF NOT EXISTS graphwire_run_events (
    run_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    frame TEXT NOT NULL,
    PRIMARY KEY (run_key, seq)
) WITHOUT ROWID;
"""
_RUNS = RunSql("?")
_INSERT = f"INSERT INTO graphwire_tasks ({TASK_COLUMNS}) VALUES ({', '.join('?' * 13)})"
_UPDATE = (
    "UPDATE graphwire_tasks SET state = ?, ready_at = ?, lease_owner = ?, "
    "lease_expires_at = ?, attempt = ?, body = ? WHERE id = ?"
)
_FENCE = (
    "SELECT lease_owner, attempt, "
    "(SELECT COALESCE(MAX(seq), 0) FROM graphwire_task_events WHERE task_id = ?) "
    "FROM graphwire_tasks WHERE id = ?"
)


class SqliteTaskStore(DurableTaskStore):
    """A TaskStore in a SQLite file: ``await SqliteTaskStore.open(path)``, or ``on`` a
    ``SqliteFile`` it shares with the LangGraph checkpointer."""

    def __init__(
        self, file: SqliteFile, clock: Callable[[], float] | None = None, owns: bool = False
    ) -> None:
        super().__init__(*(() if clock is None else (clock,)))
        self._file = file
        self._owns = owns

    @classmethod
    async def open(
        cls, path: str | Path, *, clock: Callable[[], float] | None = None
    ) -> SqliteTaskStore:
        """A store with its own handle on the file (closed by ``aclose``)."""
        file = SqliteFile(path)
        await file.acquire(_SCHEMA)
        return cls(file, clock, owns=True)

    @classmethod
    async def on(
        cls, file: SqliteFile, *, clock: Callable[[], float] | None = None
    ) -> SqliteTaskStore:
        """A store on a file its caller has acquired (and will release)."""
        await file.ensure_schema(_SCHEMA)
        return cls(file, clock)

    async def aclose(self) -> None:
        if self._owns:
            self._owns = False
            await self._file.release()

    async def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn`` as one atomic job (the file's thread wraps each job in a savepoint
        inside a group-committed IMMEDIATE transaction)."""
        return await self._file.call_urgent(lambda: fn(self._file.conn))

    async def _write_behind(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn`` as one atomic job queued behind urgent work, as checkpoints are:
        saving a run's log is background work that a run's own steps go before."""
        return await self._file.call(lambda: fn(self._file.conn))

    async def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn`` as a job that only reads: it takes no write lock."""
        return await self._file.call_urgent(lambda: fn(self._file.conn), mode="read")

    async def probe(self) -> None:
        await self._file.probe()

    # -- tasks --------------------------------------------------------------------------

    async def _insert(self, task: Task) -> None:
        await self._write(lambda conn: conn.execute(_INSERT, task_row(task)))

    async def _apply(
        self, task_id: str, change: Callable[[Task], Task], frames: Sequence[str] = ()
    ) -> Task:
        def apply(conn: sqlite3.Connection) -> Task:
            task = change(_load(conn, task_id))
            _save(conn, task)
            if frames:
                _extend(conn, task_id, task.run_ids[-1], frames)
            return task

        return await self._write(apply)

    async def get(self, task_id: str) -> Task:
        return await self._read(lambda conn: _load(conn, task_id))

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        where, args = board_where(query, "?", "IS")
        sql = f"SELECT body FROM graphwire_tasks {where} ORDER BY created_at DESC, id DESC LIMIT ?"

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(sql, (*args, query.limit + 1)).fetchall()

        return board_page((body for (body,) in await self._read(read)), query.limit)

    # -- claims and leases --------------------------------------------------------------

    async def claim_next(
        self, owner: str, run_id: str, lease_seconds: float, agents: Collection[str] | None
    ) -> Task | None:
        if agents is not None and not agents:
            return None
        agent_filter = "" if agents is None else f"AND agent IN ({', '.join('?' * len(agents))})"
        sql = (
            "SELECT body FROM graphwire_tasks WHERE ready_at IS NOT NULL AND lease_owner IS NULL "
            f"{agent_filter} ORDER BY ready_at, id LIMIT 1"
        )

        def claim(conn: sqlite3.Connection) -> Task | None:
            row = conn.execute(sql, tuple(agents or ())).fetchone()
            if row is None:
                return None
            task = TASK_JSON.validate_json(row[0])
            lease = Lease(owner, task.attempt + 1, lease_seconds)
            claimed = m.claim(task, lease, run_id, self._clock())
            _save(conn, claimed)
            return claimed

        claimed = await self._write(claim)
        if claimed is not None:
            self._fire(claimed.id)
        return claimed

    async def requeue_expired(self) -> list[Task]:
        def requeue(conn: sqlite3.Connection) -> list[Task]:
            now = self._clock()
            rows = conn.execute(
                "SELECT body FROM graphwire_tasks WHERE lease_owner IS NOT NULL "
                "AND lease_expires_at < ?",
                (now,),
            ).fetchall()
            requeued = []
            for (body,) in rows:
                task = TASK_JSON.validate_json(body)
                _close_cut_run(conn, task)
                requeued.append(m.expire(task, now))
                _save(conn, requeued[-1])
            return requeued

        requeued = await self._write(requeue)
        for task in requeued:
            self._fire(task.id, events_key(task.id))
        if requeued:
            self._fire(WORK)
        return requeued

    # -- event logs ---------------------------------------------------------------------

    async def append_events(
        self, task_id: str, lease: Lease, run_id: str, frames: Sequence[str]
    ) -> int:
        def append(conn: sqlite3.Connection) -> int:
            row = conn.execute(_FENCE, (task_id, task_id)).fetchone()
            if row is None:
                raise m.TaskNotFoundError(f"no task {task_id!r}")
            owner, attempt, last = row
            if (owner, attempt) != (lease.owner, lease.attempt):
                raise m.LeaseLostError(f"lease on task {task_id} attempt {lease.attempt} is lost")
            return _insert_events(conn, task_id, run_id, frames, int(last))

        last = await self._write(append)
        self._fire(events_key(task_id))
        return last

    async def last_seq(self, task_id: str) -> int:
        def read(conn: sqlite3.Connection) -> int:
            _load(conn, task_id)
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM graphwire_task_events WHERE task_id = ?",
                (task_id,),
            ).fetchone()
            return int(last)

        return await self._read(read)

    async def read_events(
        self, task_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[TaskEvent]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            _load(conn, task_id)
            return conn.execute(
                "SELECT seq, run_id, frame FROM graphwire_task_events "
                "WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (task_id, after_seq, -1 if limit is None else limit),
            ).fetchall()

        rows = await self._read(read)
        return [TaskEvent(int(seq), str(run), str(frame)) for seq, run, frame in rows]

    # -- foreground runs' logs (runs.RunLogs) --------------------------------------------

    async def find_run(self, run_key: str) -> StoredRun | None:
        return await self._read(lambda conn: _find_run(conn, run_key))

    async def write_run(self, run_key: str, run: StoredRun, frames: Sequence[str]) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            if not fits(_find_run(conn, run_key), run, len(frames)):
                return False
            conn.executemany(_RUNS.append, event_rows(run_key, run, frames))
            conn.execute(_RUNS.put, run_values(run_key, run))
            if first_write(run, len(frames)):
                newest = -1 if self.kept_runs is None else self.kept_runs
                others = (run.thread_key, run_key, newest, run.thread_key, run_key)
                ended = conn.execute(_RUNS.retention, others).fetchall()
                conn.executemany(_RUNS.drop, [(key,) for key, kept in ended if not kept])
            return True

        written = await self._write_behind(write)
        self._fire(run_events_key(run_key))
        return written

    async def read_run(self, run_key: str, after: int, limit: int | None = None) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(_RUNS.read, (run_key, after, -1 if limit is None else limit))
            return [frame for (frame,) in rows]

        return await self._read(read)

    async def newest_run(self, thread_key: str) -> str | None:
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(_RUNS.newest, (thread_key,)).fetchone()
            return None if row is None else str(row[0])

        return await self._read(read)

    async def running(self, run_key: str) -> bool:
        """One process serves a SQLite file: its own runs are in its memory."""
        return False

    async def close_lost_run(self, run_key: str, owner: str) -> None:
        """One process serves a SQLite file (docs/adr/0011-postgresql-store.md): an
        open log another owner wrote is a dead process's."""

        def close(conn: sqlite3.Connection) -> bool:
            run = _find_run(conn, run_key)
            if run is None or run.closed or run.owner == owner:
                return False
            frames = [f for (f,) in conn.execute(_RUNS.read, (run_key, run.start_seq, -1))]
            ended, closing = lost_run(run, frames)
            conn.executemany(_RUNS.append, event_rows(run_key, ended, closing))
            conn.execute(_RUNS.put, run_values(run_key, ended))
            return True

        if await self._write(close):
            self._fire(run_events_key(run_key))


# -- rows (run on the database thread) ------------------------------------------------


def _find_run(conn: sqlite3.Connection, run_key: str) -> StoredRun | None:
    row = conn.execute(_RUNS.find, (run_key,)).fetchone()
    return None if row is None else stored_run(row)


def _save(conn: sqlite3.Connection, task: Task) -> None:
    """Write a changed task back (only the columns a change can touch)."""
    conn.execute(
        _UPDATE,
        changed_row(task),
    )


def _load(conn: sqlite3.Connection, task_id: str) -> Task:
    row = conn.execute("SELECT body FROM graphwire_tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None:
        raise m.TaskNotFoundError(f"no task {task_id!r}")
    return TASK_JSON.validate_json(row[0])


def _close_cut_run(conn: sqlite3.Connection, task: Task) -> None:
    run_id = task.run_ids[-1] if task.run_ids else ""
    rows = conn.execute(
        "SELECT frame FROM graphwire_task_events WHERE task_id = ? AND run_id = ? ORDER BY seq",
        (task.id, run_id),
    ).fetchall()
    _extend(conn, task.id, run_id, closing_frames([f for (f,) in rows]))


def _extend(conn: sqlite3.Connection, task_id: str, run_id: str, frames: Sequence[str]) -> int:
    (last,) = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM graphwire_task_events WHERE task_id = ?", (task_id,)
    ).fetchone()
    return _insert_events(conn, task_id, run_id, frames, int(last))


def _insert_events(
    conn: sqlite3.Connection, task_id: str, run_id: str, frames: Sequence[str], last: int
) -> int:
    if frames:
        conn.executemany(
            "INSERT INTO graphwire_task_events (task_id, seq, run_id, frame) VALUES (?, ?, ?, ?)",
            [(task_id, last + i, run_id, f) for i, f in enumerate(frames, 1)],
        )
    return last + len(frames)
