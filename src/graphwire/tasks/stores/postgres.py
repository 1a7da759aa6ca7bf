"""PostgresTaskStore: tasks and their event logs in PostgreSQL, shared by any
number of graphwire processes on any number of hosts.

- psycopg 3 with an async connection pool; every domain operation is one
  transaction.
- Claims take ``SELECT ... FOR UPDATE SKIP LOCKED``: two processes never get
  the same task, and neither waits for the other's lock. Writes by a worker are
  fenced by its lease (owner and attempt), as in every store.
- A change that someone may wait for sends ``NOTIFY graphwire, '<key>'`` in its
  own transaction (delivered at commit, carrying an id only); each store
  LISTENs and wakes its local waiters, who read the rows themselves. Its own
  changes it wakes at once, as every store does (their echo, known by the
  store id the payload carries, is ignored). A lost listening connection is
  opened again, and every waiter woken to look. Pooled connections are
  checked before use, so none is handed out dead after a restart.
- The schema is versioned (``graphwire_migrations``) and migrated on open under
  an advisory lock, so processes starting at once apply each step once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, cast

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncConnection, AsyncCursor, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

import graphwire.tasks.stores._model as m
from graphwire.protocol import StoreUnavailableError
from graphwire.runs import StoredRun, ThreadClaims, stop_within
from graphwire.tasks.stores._base import (
    RUN_COLUMNS,
    RUN_FIELDS,
    RUN_UPSERT,
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
    lost_run,
    retention,
    run_events_key,
    run_values,
    stored_run,
    task_row,
)
from graphwire.tasks.stores._model import Lease, Task, TaskEvent, TaskPage, TaskQuery
from graphwire.tasks.stores._serde import MessageMemo

logger = logging.getLogger("graphwire.tasks")

CHANNEL = "graphwire"
"""The NOTIFY channel: payloads are signal keys (task ids, ``WORK`` ...), or a
cancel request for a run (``cancel:<run key>``)."""
CANCEL_PREFIX = "cancel:"
MIGRATION_LOCK = 0x67776972  # "gwir": the advisory lock migrations are applied under
CHECKPOINT_SETUP_LOCK = 0x67776370  # "gwcp": LangGraph's checkpoint tables, set up once
SETUP_POLL_SECONDS = 0.05
CLOSE_SECONDS = 0.5
"""How long closing a pool waits for its workers (a database that does not
answer holds them in a connect): a shutdown's grace has little left by then."""
SETUP_NOTICE_SECONDS = 10.0
"""A setup still waiting after this long is logged (it waits as long as it must)."""
POOL_TIMEOUT_SECONDS = 10.0
"""How long an operation waits for a pooled connection by default (the
``store_busy_timeout_seconds`` setting: as long as SQLite waits for a lock)."""
LISTEN_RETRY_SECONDS = 1.0

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE graphwire_tasks (
            id text PRIMARY KEY,
            agent text NOT NULL,
            state text NOT NULL,
            parent_run_id text,
            parent_task_id text,
            parent_thread_id text,
            principal text,
            created_at double precision NOT NULL,
            ready_at double precision,
            lease_owner text,
            lease_expires_at double precision,
            attempt integer NOT NULL,
            body text NOT NULL
        );
        CREATE INDEX graphwire_tasks_ready ON graphwire_tasks (ready_at, id)
            WHERE ready_at IS NOT NULL AND lease_owner IS NULL;
        CREATE INDEX graphwire_tasks_leased ON graphwire_tasks (lease_expires_at)
            WHERE lease_owner IS NOT NULL;
        CREATE INDEX graphwire_tasks_board ON graphwire_tasks (created_at DESC, id DESC);
        CREATE INDEX graphwire_tasks_parent ON graphwire_tasks (parent_task_id)
            WHERE parent_task_id IS NOT NULL;
        CREATE INDEX graphwire_tasks_parent_thread ON graphwire_tasks (parent_thread_id)
            WHERE parent_thread_id IS NOT NULL;
        CREATE TABLE graphwire_task_events (
            task_id text NOT NULL,
            seq integer NOT NULL,
            run_id text NOT NULL,
            frame text NOT NULL,
            PRIMARY KEY (task_id, seq)
        );
        CREATE TABLE graphwire_probe (id integer PRIMARY KEY, at double precision NOT NULL);
        """,
    ),
    (
        2,
        """
        CREATE TABLE graphwire_thread_claims (
            thread_key text PRIMARY KEY,
            run_key text NOT NULL,
            token text NOT NULL,
            owner text NOT NULL,
            expires_at double precision NOT NULL
        );
        CREATE INDEX graphwire_thread_claims_run ON graphwire_thread_claims (run_key);
        """,
    ),
    (
        3,
        """
        CREATE TABLE graphwire_runs (
            run_key text PRIMARY KEY,
            run_id text NOT NULL,
            thread_key text NOT NULL,
            agent text NOT NULL,
            principal text,
            owner text NOT NULL,
            start_seq integer NOT NULL,
            last_seq integer NOT NULL,
            closed boolean NOT NULL,
            interrupted boolean NOT NULL,
            started_at double precision NOT NULL,
            kept boolean NOT NULL
        );
        CREATE INDEX graphwire_runs_thread ON graphwire_runs (thread_key, started_at);
        CREATE TABLE graphwire_run_events (
            run_key text NOT NULL,
            seq integer NOT NULL,
            frame text NOT NULL,
            PRIMARY KEY (run_key, seq)
        );
        """,
    ),
)
"""The schema, one step per version; applied in order, each once."""

_RUNS = RunSql("%s")
_WRITE_RUN = f"""
WITH prior AS (
    SELECT last_seq, closed, interrupted, owner FROM graphwire_runs
    WHERE run_key = %(key)s FOR UPDATE
), fits AS (  -- the rule of _base.fits: else nothing is written
    SELECT 1 WHERE CASE
        WHEN NOT EXISTS (SELECT 1 FROM prior) THEN %(after)s = 0
        ELSE (
            SELECT last_seq = %(after)s AND CASE
                WHEN %(starts)s THEN closed AND interrupted
                ELSE NOT closed AND owner = %(owner)s
            END
            FROM prior
        )
    END
), frames AS (
    INSERT INTO graphwire_run_events (run_key, seq, frame)
    SELECT %(key)s, %(after)s + n, frame
    FROM unnest(%(frames)s::text[]) WITH ORDINALITY AS batch(frame, n)
    WHERE EXISTS (SELECT 1 FROM fits)
), run AS (
    INSERT INTO graphwire_runs (run_key, {RUN_COLUMNS})
    SELECT %(key)s, {", ".join(f"%({name})s" for name in RUN_FIELDS)}
    WHERE EXISTS (SELECT 1 FROM fits)
    ON CONFLICT (run_key) DO UPDATE SET {RUN_UPSERT}
), others AS (  -- a (re)start's first write: the thread's retention
    {retention("%(thread_key)s", "%(key)s", "%(newest)s")}
        AND %(starts)s AND EXISTS (SELECT 1 FROM fits)
    RETURNING run_key, kept
), dropped AS (
    DELETE FROM graphwire_run_events
    WHERE run_key IN (SELECT run_key FROM others WHERE NOT kept)
)
SELECT pg_notify(%(channel)s, %(payload)s) FROM fits
"""
"""A run log's batch in one statement: the fence, the frames, the row, the
thread's retention, the wake-up (``DurableTaskStore.write_run``)."""
_INSERT = f"INSERT INTO graphwire_tasks ({TASK_COLUMNS}) VALUES ({', '.join(['%s'] * 13)})"
_UPDATE = (
    "UPDATE graphwire_tasks SET state = %s, ready_at = %s, lease_owner = %s, "
    "lease_expires_at = %s, attempt = %s, body = %s WHERE id = %s"
)
_UNAVAILABLE = (
    psycopg.OperationalError,
    psycopg.errors.ReadOnlySqlTransaction,
    psycopg.errors.InsufficientPrivilege,
    psycopg.errors.UndefinedTable,
    PoolTimeout,
)
"""What a database that cannot be used now raises (down, unreachable, shutting
down, out of resources, a standby that takes no writes, no free connection, a
role whose rights were taken, a table gone: a database dropped and made again)."""


async def migrate(conn: AsyncConnection[Any]) -> None:
    """Bring the schema to the newest version (idempotent; safe when several
    processes run it at once: the advisory lock orders them)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = 0")  # another process may be migrating
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS graphwire_migrations ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await conn.execute("SELECT version FROM graphwire_migrations")
        applied = {version for (version,) in await cursor.fetchall()}
        for version, sql in MIGRATIONS:
            if version not in applied:
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO graphwire_migrations (version) VALUES (%s)", (version,)
                )


class PostgresCheckpointer(AsyncPostgresSaver):
    """LangGraph's checkpointer, its database outages said as every store says
    them: ``StoreUnavailableError`` (a run's RUN_ERROR and a route's 503
    ``STORE_UNAVAILABLE``, not an AGENT_ERROR or a 500). Its serializer encodes
    and decodes an unchanged message once (``MessageMemo``)."""

    def __init__(self, conn: AsyncConnectionPool[Any]) -> None:
        super().__init__(conn, serde=MessageMemo())

    async def probe(self) -> None:
        """Readiness: its own pool reaches the database now (it reconnects
        after an outage apart from the task store's)."""
        with _translated():
            async with self._cursor() as cur:
                await cur.execute("SELECT 1")

    @property
    def _memo(self) -> MessageMemo:
        """The serializer: LangGraph's ``with_allowlist`` clone has a derived one."""
        return cast(MessageMemo, self.serde)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with _translated(), self._memo.scope(config):
            return await super().aget_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        with _translated():
            async for item in super().alist(config, filter=filter, before=before, limit=limit):
                yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        with _translated(), self._memo.scope(config):
            return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        with _translated(), self._memo.scope(config):
            await super().aput_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        with _translated():
            await super().adelete_thread(thread_id)


@contextlib.asynccontextmanager
async def postgres_checkpointer(
    url: str, pool_size: int = 10, timeout: float = POOL_TIMEOUT_SECONDS
) -> AsyncIterator[AsyncPostgresSaver]:
    """LangGraph's PostgreSQL checkpointer on a pool of its own, in the same
    database as the tasks; its tables set up once however many processes start.
    ``timeout``: how long an operation waits for a connection (the database
    may be down) before it fails with ``StoreUnavailableError``."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=pool_size,
        open=False,
        timeout=timeout,
        reconnect_timeout=timeout,  # as the task store's pool (PostgresTaskStore.open)
        # What AsyncPostgresSaver's queries expect of a connection.
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        configure=partial(_limit_lock_waits, timeout),
        check=AsyncConnectionPool.check_connection,
    )
    with _translated():
        await pool.open(wait=True)
    try:
        with _translated():
            async with pool.connection() as conn:
                await _setup_alone(conn, timeout)
        yield PostgresCheckpointer(pool)
    finally:
        await pool.close(timeout=CLOSE_SECONDS)


async def _setup_alone(conn: AsyncConnection[Any], timeout: float) -> None:
    """LangGraph's ``setup()`` in one process at a time, on ``conn``. Its
    migrations build an index CONCURRENTLY, which waits for every open
    transaction, a waiting lock statement's too: the lock is a session lock
    taken by polling, never waited on; and the index waits without a lock or
    statement timeout (a build cut short leaves it INVALID, and LangGraph's
    IF NOT EXISTS never builds it again: one left so is rebuilt; ``timeout``
    is the connection's lock timeout again afterwards). It waits as long as
    it must, and says so after ``SETUP_NOTICE_SECONDS``."""
    notice = asyncio.get_running_loop().call_later(
        SETUP_NOTICE_SECONDS,
        logger.warning,
        "the checkpoint tables' setup has waited %s s: another process sets them up, or"
        " an index build waits for transactions open in the database (pg_stat_activity)",
        SETUP_NOTICE_SECONDS,
    )
    try:
        await _setup_locked(conn, timeout)
    finally:
        notice.cancel()


async def _setup_locked(conn: AsyncConnection[Any], timeout: float) -> None:
    while True:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (CHECKPOINT_SETUP_LOCK,))
        row = await cursor.fetchone()
        if row is not None and row["pg_try_advisory_lock"]:
            break
        await asyncio.sleep(SETUP_POLL_SECONDS)
    await conn.execute("SET lock_timeout = 0")
    await conn.execute("SET statement_timeout = 0")  # a role's or database's would cut it too
    try:
        await AsyncPostgresSaver(conn).setup()  # on this connection, not another of the pool
        await _rebuild_invalid_indexes(conn)
    finally:
        await conn.execute("RESET statement_timeout")
        await _limit_lock_waits(timeout, conn)
        await conn.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_SETUP_LOCK,))


_INVALID_INDEXES = """
SELECT n.nspname AS schema, c.relname AS name FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid
  AND i.indrelid = ANY ('{checkpoints,checkpoint_blobs,checkpoint_writes}'::regclass[])
"""


async def _rebuild_invalid_indexes(conn: AsyncConnection[Any]) -> None:
    """An index build CONCURRENTLY cut short (a process killed during setup)
    leaves the index INVALID: kept up to date, never used, and never built
    again by LangGraph's IF NOT EXISTS. Rebuild it; drop what a cut-short
    REINDEX CONCURRENTLY leaves (``_ccnew``, ``_ccold``). One that cannot be
    (a role that does not own it) is logged with what its owner should run."""
    cursor = await conn.execute(_INVALID_INDEXES)
    for row in await cursor.fetchall():
        index = sql.Identifier(row["schema"], row["name"])
        if re.search(r"_cc(new|old)\d*$", row["name"]):  # what a cut-short REINDEX left
            command = sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(index)
        else:
            command = sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(index)
        shown = command.as_string(conn)
        logger.warning("checkpoint index %s was left invalid by an interrupted setup", row["name"])
        try:
            await conn.execute(command)
        except psycopg.Error as exc:  # an invalid index costs only speed: the start goes on
            logger.warning("%s failed (%s); its owner can run it", shown, exc)


class PostgresTaskStore(DurableTaskStore):
    """A TaskStore in PostgreSQL: ``await PostgresTaskStore.open(url)``."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], url: str, clock: Callable[[], float] | None = None
    ) -> None:
        super().__init__(*(() if clock is None else (clock,)))
        self._pool = pool
        self._url = url
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._id = uuid.uuid4().hex
        """Said with each NOTIFY: this store's own are not fired twice."""

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Callable[[], float] | None = None,
        pool_size: int = 10,
        timeout: float = POOL_TIMEOUT_SECONDS,
    ) -> PostgresTaskStore:
        """Connect, migrate the schema and start listening (``aclose`` undoes it).
        ``timeout``: how long an operation waits for a connection (the database
        may be down) before it fails with ``StoreUnavailableError``."""
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=timeout,
            # A try to connect gives up when a request would: the backoff between
            # tries doubles without end (after a minute's outage the next try was
            # ~30 s away), a request that finds none starts a new try at once.
            reconnect_timeout=timeout,
            kwargs={"autocommit": True},
            configure=partial(_limit_lock_waits, timeout),
            check=AsyncConnectionPool.check_connection,  # none dead after a restart
        )
        with _translated():
            await pool.open(wait=True)
        store, opened = cls(pool, url, clock), False
        try:
            with _translated():
                async with pool.connection() as conn:
                    await migrate(conn)
            store._listener = asyncio.create_task(store._listen(), name="graphwire-pg-listen")
            store._listener.add_done_callback(_listener_ended)
            await store._listening.wait()
            opened = True
        finally:
            if not opened:
                await store.aclose()
        return store

    async def aclose(self) -> None:
        """Stop listening and close the pool: about ``CLOSE_SECONDS`` even for a
        database that does not answer (and the listener's re-cancels)."""
        if self._listener is not None:
            self._listener.cancel()
            await stop_within({self._listener}, CLOSE_SECONDS / 2)
            self._listener = None
        await self._pool.close(timeout=CLOSE_SECONDS / 2)

    # -- wake-ups across processes ---------------------------------------------------

    async def _listen(self) -> None:
        """Wake local waiters on every key another process (or this one) NOTIFYs;
        after a lost connection, wake them all: they may have missed a change."""
        while True:
            try:
                conn = await AsyncConnection.connect(self._url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self._listening.is_set():
                        self._signals.fire_all()
                    self._listening.set()
                    async for notice in conn.notifies():
                        self._heard(notice.payload)
            except psycopg.Error as exc:  # down, restarting, a standby: again in a second
                # Meanwhile only this process's own changes wake its waiters.
                logger.warning("listening for task changes failed (again in 1 s): %s", exc)
                self._listening.set()
                await asyncio.sleep(LISTEN_RETRY_SECONDS)

    def _heard(self, payload: str) -> None:
        sender, _, key = payload.partition(" ")
        if key.startswith(CANCEL_PREFIX):  # even our own: the run may be ours
            self._cancel_asked(key[len(CANCEL_PREFIX) :])
        elif sender != self._id:  # our own changes woke their waiters already
            self._fire(key)

    # -- transactions ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncCursor[Any]]:
        """One transaction; a database that cannot be used is StoreUnavailableError."""
        with _translated():
            async with (
                self._pool.connection() as conn,
                conn.transaction(),
                conn.cursor() as cur,
            ):
                yield cur

    @contextlib.asynccontextmanager
    async def _alone(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection for one statement, which is its own transaction (no
        BEGIN and COMMIT round trips); unavailable as ``_tx`` says it."""
        with _translated():
            async with self._pool.connection() as conn:
                yield conn

    async def probe(self) -> None:
        async with self._tx() as cur:
            await cur.execute(
                "INSERT INTO graphwire_probe (id, at) VALUES (1, %s) "
                "ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
                (self._clock(),),
            )
            # The tasks' table can be written too (no row is: the rights are checked).
            await cur.execute("UPDATE graphwire_tasks SET id = id WHERE false")

    # -- tasks --------------------------------------------------------------------------

    async def _insert(self, task: Task) -> None:
        async with self._tx() as cur:
            await cur.execute(_INSERT, task_row(task))
            await _notify(cur, self._id, task.id, WORK)

    async def _apply(
        self, task_id: str, change: Callable[[Task], Task], frames: Sequence[str] = ()
    ) -> Task:
        async with self._tx() as cur:
            task = change(await _load(cur, task_id, lock=True))
            await _save(cur, task)
            keys = [task_id]
            if frames:
                await _extend(cur, task_id, task.run_ids[-1], frames)
                keys.append(events_key(task_id))
            if task.runnable:
                keys.append(WORK)
            await _notify(cur, self._id, *keys)
        return task

    async def get(self, task_id: str) -> Task:
        async with self._tx() as cur:
            return await _load(cur, task_id)

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        where, args = board_where(query, "%s", "IS NOT DISTINCT FROM")
        sql = f"SELECT body FROM graphwire_tasks {where} ORDER BY created_at DESC, id DESC LIMIT %s"
        async with self._tx() as cur:
            await cur.execute(sql, (*args, query.limit + 1))
            rows = await cur.fetchall()
        return board_page((body for (body,) in rows), query.limit)

    # -- claims and leases --------------------------------------------------------------

    async def claim_next(
        self, owner: str, run_id: str, lease_seconds: float, agents: Collection[str] | None
    ) -> Task | None:
        if agents is not None and not agents:
            return None
        agent_filter = "" if agents is None else "AND agent = ANY(%s)"
        sql = (
            "SELECT body FROM graphwire_tasks WHERE ready_at IS NOT NULL AND lease_owner IS NULL "
            f"{agent_filter} ORDER BY ready_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        async with self._tx() as cur:
            await cur.execute(sql, () if agents is None else (list(agents),))
            row = await cur.fetchone()
            if row is None:
                return None
            task = TASK_JSON.validate_json(row[0])
            lease = Lease(owner, task.attempt + 1, lease_seconds)
            claimed = m.claim(task, lease, run_id, self._clock())
            await _save(cur, claimed)
            await _notify(cur, self._id, claimed.id)
        self._fire(claimed.id)
        return claimed

    async def requeue_expired(self) -> list[Task]:
        async with self._tx() as cur:
            now = self._clock()
            await cur.execute(
                "SELECT body FROM graphwire_tasks WHERE lease_owner IS NOT NULL "
                "AND lease_expires_at < %s FOR UPDATE SKIP LOCKED",
                (now,),
            )
            requeued = []
            for (body,) in await cur.fetchall():
                task = TASK_JSON.validate_json(body)
                await _close_cut_run(cur, task)
                requeued.append(m.expire(task, now))
                await _save(cur, requeued[-1])
            keys = [key for t in requeued for key in (t.id, events_key(t.id))]
            if requeued:
                await _notify(cur, self._id, *keys, WORK)
        if requeued:
            self._fire(*keys, WORK)
        return requeued

    # -- thread claims (runs.ThreadClaims) ------------------------------------------------

    def thread_claims(self) -> ThreadClaims:
        """Every process on this database claims its runs' threads here."""
        return self

    async def claim_thread(
        self, thread_key: str, run_key: str, token: str, owner: str, lease_seconds: float
    ) -> bool:
        """See ``runs.ThreadClaims``: one upsert, taken over only from its own
        owner or a lapsed lease."""
        async with self._tx() as cur:
            now = self._clock()  # once the connection is ours: the lease starts now
            await cur.execute(
                "INSERT INTO graphwire_thread_claims AS c "
                "(thread_key, run_key, token, owner, expires_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (thread_key) DO UPDATE SET run_key = EXCLUDED.run_key, "
                "token = EXCLUDED.token, owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at "
                "WHERE c.owner = EXCLUDED.owner OR c.expires_at < %s RETURNING 1",
                (thread_key, run_key, token, owner, now + lease_seconds, now),
            )
            return await cur.fetchone() is not None

    async def renew_threads(
        self, owner: str, tokens: Mapping[str, str], lease_seconds: float
    ) -> set[str]:
        """See ``runs.ThreadClaims``: one UPDATE of the live claims, by token."""
        keys = list(tokens)
        async with self._tx() as cur:
            now = self._clock()
            await cur.execute(
                "UPDATE graphwire_thread_claims SET expires_at = %s "
                "WHERE owner = %s AND token = ANY(%s) AND expires_at >= %s RETURNING thread_key",
                (now + lease_seconds, owner, list(tokens.values()), now),
            )
            renewed = {key for (key,) in await cur.fetchall()}
        return set(keys) - renewed

    async def release_thread(self, thread_key: str, token: str) -> None:
        """See ``runs.ThreadClaims``."""
        async with self._tx() as cur:
            await cur.execute(
                "DELETE FROM graphwire_thread_claims WHERE thread_key = %s AND token = %s",
                (thread_key, token),
            )

    async def request_cancel(self, run_key: str) -> bool:
        """See ``runs.ThreadClaims``: a NOTIFY ``cancel:<run key>`` if a live
        claim names the run (its process stops it)."""
        async with self._tx() as cur:
            if not await self._claimed(cur, run_key):
                return False
            await _notify(cur, self._id, CANCEL_PREFIX + run_key)
        return True

    async def claimed_run(self, thread_key: str) -> str | None:
        """See ``runs.ThreadClaims``."""
        async with self._alone() as conn:
            cursor = await conn.execute(
                "SELECT run_key FROM graphwire_thread_claims "
                "WHERE thread_key = %s AND expires_at >= %s",
                (thread_key, self._clock()),
            )
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def _claimed(self, cur: AsyncCursor[Any], run_key: str) -> bool:
        """A live claim names the run: a process runs it."""
        await cur.execute(
            "SELECT 1 FROM graphwire_thread_claims WHERE run_key = %s AND expires_at >= %s",
            (run_key, self._clock()),
        )
        return await cur.fetchone() is not None

    async def _alive(self, cur: AsyncCursor[Any], run_key: str, run: StoredRun) -> bool:
        """The process that wrote the run lives: a live claim names the run, or
        its owner holds the thread (for a later run; this one's end is on its way)."""
        await cur.execute(
            "SELECT 1 FROM graphwire_thread_claims WHERE expires_at >= %s "
            "AND (run_key = %s OR (thread_key = %s AND owner = %s))",
            (self._clock(), run_key, run.thread_key, run.owner),
        )
        return await cur.fetchone() is not None

    # -- foreground runs' logs (runs.RunLogs) --------------------------------------------

    async def find_run(self, run_key: str) -> StoredRun | None:
        async with self._alone() as conn:  # every new run asks: one round trip
            row = await (await conn.execute(_RUNS.find, (run_key,))).fetchone()
        return None if row is None else stored_run(row)

    async def write_run(self, run_key: str, run: StoredRun, frames: Sequence[str]) -> bool:
        """One statement (``_WRITE_RUN``), so one round trip: a batch is what a
        streaming run costs the database, every 50 ms."""
        after = run.last_seq - len(frames)
        params = {
            "key": run_key,
            "after": after,
            "frames": list(frames),
            "starts": first_write(run, len(frames)),
            "newest": self.kept_runs,
            "channel": CHANNEL,
            "payload": f"{self._id} {run_events_key(run_key)}",
            **dataclasses.asdict(run),
        }
        try:
            async with self._alone() as conn:
                written = await (await conn.execute(_WRITE_RUN, params)).fetchone() is not None
        except psycopg.errors.UniqueViolation:  # another first write of this run key won
            return False
        if written:
            self._fire(run_events_key(run_key))
        return written

    async def read_run(self, run_key: str, after: int, limit: int | None = None) -> list[str]:
        async with self._alone() as conn:
            rows = await (await conn.execute(_RUNS.read, (run_key, after, limit))).fetchall()
        return [frame for (frame,) in rows]

    async def newest_run(self, thread_key: str) -> str | None:
        async with self._alone() as conn:
            row = await (await conn.execute(_RUNS.newest, (thread_key,))).fetchone()
        return None if row is None else str(row[0])

    async def running(self, run_key: str) -> bool:
        async with self._tx() as cur:
            return await self._claimed(cur, run_key)

    async def close_lost_run(self, run_key: str, owner: str) -> None:
        async with self._tx() as cur:
            run = await _locked_run(cur, run_key)
            if (
                run is None
                or run.closed
                or run.owner == owner
                or await self._alive(cur, run_key, run)
            ):
                return
            await cur.execute(_RUNS.read, (run_key, run.start_seq, None))
            ended, closing = lost_run(run, [frame for (frame,) in await cur.fetchall()])
            await cur.executemany(_RUNS.append, event_rows(run_key, ended, closing))
            await cur.execute(_RUNS.put, run_values(run_key, ended))
            await _notify(cur, self._id, run_events_key(run_key))
        self._fire(run_events_key(run_key))

    # -- event logs ---------------------------------------------------------------------

    async def append_events(
        self, task_id: str, lease: Lease, run_id: str, frames: Sequence[str]
    ) -> int:
        async with self._tx() as cur:
            # The row lock orders appends to one log (seq) and fences the writer.
            await cur.execute(
                "SELECT lease_owner, attempt FROM graphwire_tasks WHERE id = %s FOR UPDATE",
                (task_id,),
            )
            row = await cur.fetchone()
            if row is None:
                raise m.TaskNotFoundError(f"no task {task_id!r}")
            if tuple(row) != (lease.owner, lease.attempt):
                raise m.LeaseLostError(f"lease on task {task_id} attempt {lease.attempt} is lost")
            last = await _extend(cur, task_id, run_id, frames)
            await _notify(cur, self._id, events_key(task_id))
        self._fire(events_key(task_id))
        return last

    async def last_seq(self, task_id: str) -> int:
        async with self._tx() as cur:
            await _exists(cur, task_id)
            return await _last(cur, task_id)

    async def read_events(
        self, task_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[TaskEvent]:
        async with self._tx() as cur:
            await _exists(cur, task_id)
            await cur.execute(
                "SELECT seq, run_id, frame FROM graphwire_task_events "
                "WHERE task_id = %s AND seq > %s ORDER BY seq LIMIT %s",
                (task_id, after_seq, limit),
            )
            rows = await cur.fetchall()
        return [TaskEvent(int(seq), str(run), str(frame)) for seq, run, frame in rows]


def _listener_ended(listener: asyncio.Task[None]) -> None:
    if not listener.cancelled() and listener.exception() is not None:
        logger.error("listening for task changes stopped", exc_info=listener.exception())


async def _limit_lock_waits(timeout: float, conn: AsyncConnection[Any]) -> None:
    """A pool's ``configure``: a statement on ``conn`` waits ``timeout`` seconds
    at most for a lock another session holds (then LockNotAvailable: the store
    cannot be used now). A session setting: the options of the URL, PGOPTIONS
    or a service file stay as they are."""
    await conn.execute(f"SET lock_timeout = {max(1, int(timeout * 1000))}")


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        raise StoreUnavailableError(f"the database cannot be used now: {exc}") from exc


# -- rows ------------------------------------------------------------------------------


async def _save(cur: AsyncCursor[Any], task: Task) -> None:
    """Write a changed task back (only the columns a change can touch)."""
    await cur.execute(
        _UPDATE,
        changed_row(task),
    )


async def _load(cur: AsyncCursor[Any], task_id: str, *, lock: bool = False) -> Task:
    sql = "SELECT body FROM graphwire_tasks WHERE id = %s" + (" FOR UPDATE" if lock else "")
    await cur.execute(sql, (task_id,))
    row = await cur.fetchone()
    if row is None:
        raise m.TaskNotFoundError(f"no task {task_id!r}")
    return TASK_JSON.validate_json(row[0])


async def _locked_run(cur: AsyncCursor[Any], run_key: str) -> StoredRun | None:
    await cur.execute(_RUNS.find + " FOR UPDATE", (run_key,))
    row = await cur.fetchone()
    return None if row is None else stored_run(row)


async def _exists(cur: AsyncCursor[Any], task_id: str) -> None:
    await cur.execute("SELECT 1 FROM graphwire_tasks WHERE id = %s", (task_id,))
    if await cur.fetchone() is None:
        raise m.TaskNotFoundError(f"no task {task_id!r}")


async def _last(cur: AsyncCursor[Any], task_id: str) -> int:
    await cur.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM graphwire_task_events WHERE task_id = %s", (task_id,)
    )
    row = await cur.fetchone()
    return int(row[0]) if row is not None else 0


async def _close_cut_run(cur: AsyncCursor[Any], task: Task) -> None:
    run_id = task.run_ids[-1] if task.run_ids else ""
    await cur.execute(
        "SELECT frame FROM graphwire_task_events WHERE task_id = %s AND run_id = %s ORDER BY seq",
        (task.id, run_id),
    )
    frames = [frame for (frame,) in await cur.fetchall()]
    await _extend(cur, task.id, run_id, closing_frames(frames))


async def _extend(cur: AsyncCursor[Any], task_id: str, run_id: str, frames: Sequence[str]) -> int:
    """Append to the log of a task whose row this transaction has locked."""
    last = await _last(cur, task_id)
    if frames:
        await cur.executemany(
            "INSERT INTO graphwire_task_events (task_id, seq, run_id, frame) "
            "VALUES (%s, %s, %s, %s)",
            [(task_id, last + i, run_id, f) for i, f in enumerate(frames, 1)],
        )
    return last + len(frames)


async def _notify(cur: AsyncCursor[Any], sender: str, *keys: str) -> None:
    """Wake the waiters on ``keys`` in every process, when this transaction commits
    (payload: the sending store's id and the key)."""
    for key in dict.fromkeys(keys):
        await cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{sender} {key}"))
