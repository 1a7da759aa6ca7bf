"""SqliteTaskStore: the embedded default — one file, WAL, survives restarts.

By default the same file holds the LangGraph checkpoints
(langgraph-checkpoint-sqlite), so a task's board row, its event log and its
thread live together. Every change is one ``BEGIN IMMEDIATE`` transaction:
SQLite's write lock makes claims and fenced writes atomic across processes.
The task row keeps the whole Task as JSON (the source of truth) beside the
columns the queries filter on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from pydantic import TypeAdapter

from graphwire.tasks import _model as m
from graphwire.tasks._model import Lease, Task, TaskEvent, TaskPage, TaskQuery
from graphwire.tasks.stores._base import (
    WORK,
    BaseTaskStore,
    closing_frames,
    decode_cursor,
    encode_cursor,
)

_TASK = TypeAdapter(Task)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS graphwire_tasks (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    state TEXT NOT NULL,
    parent_run_id TEXT,
    parent_task_id TEXT,
    parent_thread_id TEXT,
    created_at REAL NOT NULL,
    ready_at REAL,
    lease_owner TEXT,
    lease_expires_at REAL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS graphwire_tasks_ready ON graphwire_tasks (ready_at)
    WHERE ready_at IS NOT NULL AND lease_owner IS NULL;
CREATE INDEX IF NOT EXISTS graphwire_tasks_leased ON graphwire_tasks (lease_expires_at)
    WHERE lease_owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS graphwire_tasks_board ON graphwire_tasks (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS graphwire_tasks_parent ON graphwire_tasks (parent_task_id);
CREATE TABLE IF NOT EXISTS graphwire_task_events (
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    frame TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
"""
_COLUMNS = (
    "id, agent, state, parent_run_id, parent_task_id, parent_thread_id, "
    "created_at, ready_at, lease_owner, lease_expires_at, body"
)
_UPSERT = (
    f"INSERT OR REPLACE INTO graphwire_tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_FILTERS = (
    ("agent", "agent"),
    ("parent_task_id", "parent_task_id"),
    ("parent_run_id", "parent_run_id"),
    ("parent_thread_id", "parent_thread_id"),
)


class SqliteTaskStore(BaseTaskStore):
    """A TaskStore in one SQLite file. Open with ``await SqliteTaskStore.open(path)``."""

    def __init__(self, conn: aiosqlite.Connection, clock: Callable[[], float] | None) -> None:
        super().__init__(*(() if clock is None else (clock,)))
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, path: str | Path, *, clock: Callable[[], float] | None = None
    ) -> SqliteTaskStore:
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        ready = False
        try:
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
                await conn.execute(f"PRAGMA {pragma}")
            await conn.executescript(_SCHEMA)
            ready = True
        finally:
            if not ready:
                await conn.close()
        return cls(conn, clock)

    async def aclose(self) -> None:
        async with self._lock:
            await self._conn.close()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            yield self._conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One IMMEDIATE transaction: committed on success, rolled back on any error."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            committed = False
            try:
                yield self._conn
                await self._conn.commit()
                committed = True
            finally:
                if not committed:
                    await self._conn.rollback()

    # -- rows ---------------------------------------------------------------------------

    @staticmethod
    def _row(task: Task) -> tuple[Any, ...]:
        return (
            task.id,
            task.agent,
            task.state.value,
            task.parent_run_id,
            task.parent_task_id,
            task.parent_thread_id,
            task.created_at,
            task.ready_at,
            task.lease_owner,
            task.lease_expires_at,
            _TASK.dump_json(task).decode(),
        )

    @staticmethod
    async def _load(conn: aiosqlite.Connection, task_id: str) -> Task:
        rows = await conn.execute_fetchall(
            "SELECT body FROM graphwire_tasks WHERE id = ?", (task_id,)
        )
        for (body,) in rows:
            return _TASK.validate_json(body)
        raise m.TaskNotFoundError(f"no task {task_id!r}")

    async def _insert(self, task: Task) -> None:
        async with self._write() as conn:
            await conn.execute(_UPSERT, self._row(task))

    async def _apply(
        self, task_id: str, change: Callable[[Task], Task], frames: Sequence[str] = ()
    ) -> Task:
        async with self._write() as conn:
            task = change(await self._load(conn, task_id))
            await conn.execute(_UPSERT, self._row(task))
            if frames:
                await self._extend(conn, task_id, task.run_ids[-1], frames)
        return task

    async def get(self, task_id: str) -> Task:
        async with self._read() as conn:
            return await self._load(conn, task_id)

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        where, args = _where(query)
        sql = f"SELECT body FROM graphwire_tasks {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        async with self._read() as conn:
            rows = await conn.execute_fetchall(sql, (*args, query.limit + 1))
        tasks = tuple(_TASK.validate_json(body) for (body,) in rows)
        page = tasks[: query.limit]
        more = len(tasks) > query.limit
        return TaskPage(page, encode_cursor(page[-1]) if more and page else None)

    # -- claims and leases --------------------------------------------------------------

    async def claim_next(
        self, owner: str, run_id: str, lease_seconds: float, agents: Collection[str] | None
    ) -> Task | None:
        agent_filter, args = "", tuple[str, ...]()
        if agents is not None:
            if not agents:
                return None
            agent_filter = f"AND agent IN ({', '.join('?' * len(agents))})"
            args = tuple(agents)
        sql = (
            "SELECT body FROM graphwire_tasks WHERE ready_at IS NOT NULL AND lease_owner IS NULL "
            f"{agent_filter} ORDER BY ready_at, id LIMIT 1"
        )
        async with self._write() as conn:
            rows = await conn.execute_fetchall(sql, args)
            if not rows:
                return None
            task = _TASK.validate_json(next(iter(rows))[0])
            lease = Lease(owner, task.attempt + 1, lease_seconds)
            claimed = m.claim(task, lease, run_id, self._clock())
            await conn.execute(_UPSERT, self._row(claimed))
        self._fire(claimed.id)
        return claimed

    async def requeue_expired(self) -> list[Task]:
        requeued: list[Task] = []
        async with self._write() as conn:
            now = self._clock()
            rows = await conn.execute_fetchall(
                "SELECT body FROM graphwire_tasks WHERE lease_owner IS NOT NULL "
                "AND lease_expires_at < ?",
                (now,),
            )
            for (body,) in rows:
                task = _TASK.validate_json(body)
                await self._close_cut_run(conn, task)
                requeued.append(m.expire(task, now))
                await conn.execute(_UPSERT, self._row(requeued[-1]))
        for task in requeued:
            self._fire(task.id)
        if requeued:
            self._fire(WORK)
        return requeued

    async def _close_cut_run(self, conn: aiosqlite.Connection, task: Task) -> None:
        run_id = task.run_ids[-1] if task.run_ids else ""
        rows = await conn.execute_fetchall(
            "SELECT frame FROM graphwire_task_events WHERE task_id = ? AND run_id = ? ORDER BY seq",
            (task.id, run_id),
        )
        await self._extend(conn, task.id, run_id, closing_frames([f for (f,) in rows]))

    # -- event logs ---------------------------------------------------------------------

    async def append_events(
        self, task_id: str, lease: Lease, run_id: str, frames: Sequence[str]
    ) -> int:
        async with self._write() as conn:
            m.check_lease(await self._load(conn, task_id), lease)
            last = await self._extend(conn, task_id, run_id, frames)
        self._fire(task_id)
        return last

    @staticmethod
    async def _extend(
        conn: aiosqlite.Connection, task_id: str, run_id: str, frames: Sequence[str]
    ) -> int:
        rows = await conn.execute_fetchall(
            "SELECT COALESCE(MAX(seq), 0) FROM graphwire_task_events WHERE task_id = ?",
            (task_id,),
        )
        last = int(next(iter(rows))[0])
        if frames:
            await conn.executemany(
                "INSERT INTO graphwire_task_events (task_id, seq, run_id, frame) "
                "VALUES (?, ?, ?, ?)",
                [(task_id, last + i, run_id, f) for i, f in enumerate(frames, 1)],
            )
        return last + len(frames)

    async def read_events(
        self, task_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[TaskEvent]:
        async with self._read() as conn:
            await self._load(conn, task_id)
            rows = await conn.execute_fetchall(
                "SELECT seq, run_id, frame FROM graphwire_task_events "
                "WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (task_id, after_seq, -1 if limit is None else limit),
            )
        return [TaskEvent(int(seq), str(run), str(frame)) for seq, run, frame in rows]


def _where(query: TaskQuery) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    args: list[Any] = []
    if query.states is not None:
        clauses.append(f"state IN ({', '.join('?' * len(query.states))})")
        args.extend(sorted(s.value for s in query.states))
    for attr, column in _FILTERS:
        value = getattr(query, attr)
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if query.cursor is not None:
        created, task_id = decode_cursor(query.cursor)
        clauses.append("(created_at < ? OR (created_at = ? AND id < ?))")
        args.extend((created, created, task_id))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)
