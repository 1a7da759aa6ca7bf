"""One SQLite file, one connection, one database thread: the task store and
the LangGraph checkpointer share all three.

Every operation — a task transition, a log append, a checkpoint put — runs as
one atomic job on the file's thread: one hop from the event loop per
operation, and jobs that queue up commit together (``_db_thread``). Other
processes on the same file are kept apart by SQLite's own locking (WAL, busy
timeout) (docs/adr/0005-task-engine.md). Reads take no write lock; a file or
its write-ahead log deleted or replaced under the server is refused, never
written into (docs/adr/0009-hostile-input.md).
"""

from __future__ import annotations

import collections
import copy
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.utils import search_where

from graphwire.protocol import StoreUnavailableError
from graphwire.tasks.stores._db_thread import DatabaseThread, Mode
from graphwire.tasks.stores._serde import REFERENCED, MessageMemo, digests, references

_T = TypeVar("_T")
_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL")
_PAGE = 4
"""Checkpoints per page of a listing."""
_KINDS = 256
"""Threads whose checkpoints' kinds the retention remembers."""
_DELTA_METADATA = "counters_since_delta_snapshot"
"""Checkpoint metadata of graphs with DeltaChannel (kept whole: see ``_prune``)."""
_PROBE = "CREATE TABLE IF NOT EXISTS graphwire_probe (id INTEGER PRIMARY KEY, at REAL NOT NULL)"
_MESSAGES = (
    "CREATE TABLE IF NOT EXISTS graphwire_messages (thread_id TEXT NOT NULL, "
    "checkpoint_ns TEXT NOT NULL, digest BLOB NOT NULL, data BLOB NOT NULL, "
    "PRIMARY KEY (thread_id, checkpoint_ns, digest))",
    # Every read knows its thread: the index by digest alone (2026-12-02) went.
    "DROP INDEX IF EXISTS graphwire_messages_digest",
    "CREATE TABLE IF NOT EXISTS graphwire_message_epochs (thread_id TEXT NOT NULL, "
    "checkpoint_ns TEXT NOT NULL, epoch INTEGER NOT NULL, "
    "PRIMARY KEY (thread_id, checkpoint_ns))",
)
_CHUNK = 500
"""Host parameters per statement."""


class SqliteFile:
    """A SQLite file opened by its users (``acquire``/``release``), closed by the last."""

    def __init__(
        self, path: str | Path, *, busy_timeout: float = 10.0, checkpoint_turns: int | None = 10
    ) -> None:
        """``busy_timeout``: how long an operation waits for another process's
        write lock before it fails with ``StoreUnavailableError``.
        ``checkpoint_turns``: how many turns of a thread keep the checkpoints an
        edit or a regenerate forks from (``SqliteCheckpointer``); None keeps all."""
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.checkpoint_turns = checkpoint_turns
        self._thread: DatabaseThread | None = None
        self._users = 0
        self._saver: SqliteSaver | None = None
        self._rows = _MessageRows(self)
        self._memo = MessageMemo(self._rows)
        self._identity: tuple[int, int] | None = None
        self._wal: tuple[int, int] | None = None
        """The write-ahead log's identity as the connection opened it (None: no log)."""
        self._wal_saved = False
        """A log gone by name has been copied into the database file whole."""

    async def acquire(self, schema: str = "") -> None:
        """Open the file (first user) and make sure ``schema`` exists."""
        self._users += 1
        ready = False
        try:
            if self._users == 1:
                name = f"graphwire-sqlite-{Path(self.path).name}"
                self._thread = DatabaseThread(
                    name,
                    check=self._check_file,
                    undone=self._rows.forget,
                    busy_timeout=self.busy_timeout,
                    reopen=self._reopen,
                )
                await self._thread.call(self._connect, mode="raw")
            if schema:
                await self.ensure_schema(schema)
            ready = True
        finally:
            if not ready:
                await self.release()

    async def release(self) -> None:
        """Close the file when its last user lets go."""
        self._users -= 1
        if self._users > 0 or self._thread is None:
            return
        thread, self._thread = self._thread, None
        thread.closing()
        try:
            await thread.call(partial(self._close, thread), mode="raw")
        finally:
            thread.stop()

    async def ensure_schema(self, schema: str) -> None:
        """Run a CREATE … IF NOT EXISTS script (outside the group transactions)."""
        await self._thread_or_fail().call(lambda: self.conn.executescript(schema), mode="raw")

    async def call(self, fn: Callable[..., _T], *args: Any, mode: Mode = "write") -> _T:
        """Run ``fn(*args)`` as one atomic job on the database thread (``mode``
        "read": a job that only reads, and takes no write lock)."""
        return await self._thread_or_fail().call(partial(fn, *args) if args else fn, mode=mode)

    async def call_urgent(self, fn: Callable[[], _T], mode: Mode = "write") -> _T:
        """Like ``call``, ahead of queued non-urgent work."""
        return await self._thread_or_fail().call(fn, urgent=True, mode=mode)

    def call_blocking(self, fn: Callable[[], _T], mode: Mode = "write") -> _T:
        """Like ``call``, for synchronous callers on other threads."""
        return self._thread_or_fail().call_blocking(fn, mode)

    async def probe(self) -> None:
        """Write to the file once; raises ``StoreUnavailableError`` when it cannot."""
        write = "INSERT OR REPLACE INTO graphwire_probe (id, at) VALUES (1, ?)"
        await self.call_urgent(lambda: self.conn.execute(write, (time.time(),)))

    def _thread_or_fail(self) -> DatabaseThread:
        if self._thread is None:
            raise RuntimeError(f"the SQLite file {self.path} is not open")
        return self._thread

    @property
    def conn(self) -> sqlite3.Connection:
        """The file's connection — for jobs running on the database thread."""
        conn = self._thread.conn if self._thread is not None else None
        if conn is None:
            raise RuntimeError(f"the SQLite file {self.path} is not open")
        return conn

    def checkpointer(self) -> SqliteCheckpointer:
        """LangGraph checkpoints in this file, on this file's thread."""
        if self._saver is None:
            raise RuntimeError(f"the SQLite file {self.path} is not open")
        return SqliteCheckpointer(self, self._saver, self._memo, self._rows, self.checkpoint_turns)

    def _connect(self) -> None:
        self._thread_or_fail().conn = conn = self._open()
        for statement in (_PROBE, *_MESSAGES):
            conn.execute(statement)
        saver = SqliteSaver(_SaverConnection(self), serde=self._memo)  # type: ignore[arg-type]
        saver.setup()
        self._saver = saver
        self._identity = _identity(self.path)
        self._opened()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            for pragma in (*_PRAGMAS, f"busy_timeout={int(self.busy_timeout * 1000)}"):
                conn.execute(f"PRAGMA {pragma}")
        except Exception:
            conn.close()
            raise
        return conn

    def _opened(self) -> None:
        """A new connection is in use (its write-ahead log exists now)."""
        self._rows.forget()  # whatever it knew was of the file as it was then
        self._wal, self._wal_saved = _wal_identity(self.path), False

    def _reopen(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """A new connection to the file in place of ``conn``, which SQLite keeps
        read-only (the file could not be written when it was opened; it may be
        now), if the file is still the one first opened."""
        new = self._open()
        try:
            self._check_file()  # the name may have been given to another file meanwhile
        except Exception:
            new.close()
            raise
        conn.close()
        self._opened()
        return new

    def _check_file(self) -> None:
        """Refuse a database whose file was deleted or replaced since it was opened:
        the connection would go on writing into a file nobody will read again."""
        try:
            same = _identity(self.path) == self._identity
        except OSError:  # gone, or its folder no longer readable
            same = False
        if not same:
            raise StoreUnavailableError(
                f"the database file {self.path} was deleted or replaced while in use; "
                "restart graphwire"
            )
        if self._wal is not None and _wal_identity(self.path) != self._wal:
            raise StoreUnavailableError(
                f"the database's write-ahead log {self.path}-wal was deleted or replaced "
                f"while in use; {self._rescue()}; restart graphwire"
            )

    def _rescue(self) -> str:
        """What was committed into a log gone by name goes into the database
        file: the connection still holds the log, so it copies it there
        (PASSIVE: waiting for no reader; not inside a transaction: the next
        check does), until a crash could no longer lose any of it. Says how far
        it got."""
        if not self._wal_saved and not self.conn.in_transaction:
            try:
                row = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:  # said in the refusal, tried again with the next
                return f"what was committed could not be copied into the database file ({exc})"
            busy, frames, copied = row
            self._wal_saved = busy == 0 and frames == copied
        if self._wal_saved:
            return "what was committed is kept in the database file"
        return (
            "not all that was committed is in the database file yet (a reader on an "
            "older state or an open batch; tried again with each request)"
        )

    def _close(self, thread: DatabaseThread) -> None:
        conn, thread.conn = thread.conn, None
        self._saver = None
        if conn is not None:
            conn.close()


class _MessageRows:
    """The file's ``graphwire_messages``: each message of a checkpoint's state,
    as LangGraph encodes it, once per thread and namespace (``MessageMemo``).
    A checkpoint refers to its messages by digest; ``_prune`` deletes a row
    when no checkpoint of its thread refers to it any more.

    The epoch of a thread and namespace is this handle's count of rollbacks
    with that namespace's count of deletions in ``graphwire_message_epochs``:
    a deletion by any process on the file, a rollback in this one, makes the
    memo store the rows again. Only the thread whose rows went stores again.
    A deleted thread leaves its count behind (a few bytes), so that a thread
    of the same id never starts at a count already seen."""

    def __init__(self, file: SqliteFile) -> None:
        self._file = file
        self._rollbacks = 0

    def forget(self) -> None:
        """Rows this handle stored may be gone (a rollback, a new connection)."""
        self._rollbacks += 1

    def epoch(self, scope: tuple[str, str]) -> tuple[int, int]:
        row = self._file.conn.execute(
            "SELECT epoch FROM graphwire_message_epochs WHERE thread_id = ? AND checkpoint_ns = ?",
            scope,
        ).fetchone()
        return self._rollbacks, 0 if row is None else row[0]

    def fetch(self, scope: tuple[str, str], digests: Collection[bytes]) -> dict[bytes, bytes]:
        conn = self._file.conn
        query = (
            "SELECT digest, data FROM graphwire_messages "
            "WHERE thread_id = ? AND checkpoint_ns = ? AND digest IN ({})"
        )
        return dict(_select_in(conn, query, scope, list(digests)))

    def store(self, scope: tuple[str, str], digest: bytes, data: bytes) -> None:
        self._file.conn.execute(
            "INSERT OR IGNORE INTO graphwire_messages (thread_id, checkpoint_ns, digest, data) "
            "VALUES (?, ?, ?, ?)",
            (*scope, digest, data),
        )

    def sweep(self, thread_id: str, gone: Sequence[str], kept: Sequence[str]) -> None:
        """Delete the rows the root checkpoints ``gone`` (about to be deleted)
        refer to that none of ``kept`` (the thread's others, newest first)
        does. Most often a list of messages gone is the start of the newest's."""
        conn = self._file.conn
        newest = [p for blob in _blobs(conn, thread_id, kept[:1]) for p in references(blob)]
        unused: set[bytes] = set()
        for blob in _blobs(conn, thread_id, gone):
            for payload in references(blob):
                if not any(later.startswith(payload) for later in newest):
                    unused.update(digests(payload))
        for at in range(0, len(kept), _PAGE):
            if not unused:
                return
            for blob in _blobs(conn, thread_id, kept[at : at + _PAGE]):
                for payload in references(blob):
                    unused.difference_update(digests(payload))
        if unused:
            conn.executemany(
                "DELETE FROM graphwire_messages "
                "WHERE thread_id = ? AND checkpoint_ns = '' AND digest = ?",
                [(thread_id, digest) for digest in unused],
            )
            conn.execute(
                "INSERT INTO graphwire_message_epochs (thread_id, checkpoint_ns, epoch) "
                "VALUES (?, '', 1) "
                "ON CONFLICT (thread_id, checkpoint_ns) DO UPDATE SET epoch = epoch + 1",
                (thread_id,),
            )

    def delete_thread(self, thread_id: str) -> None:
        conn = self._file.conn
        conn.execute(
            "UPDATE graphwire_message_epochs SET epoch = epoch + 1 WHERE thread_id = ?",
            (thread_id,),
        )
        conn.execute(
            "INSERT OR IGNORE INTO graphwire_message_epochs (thread_id, checkpoint_ns, epoch) "
            "SELECT DISTINCT thread_id, checkpoint_ns, 1 FROM graphwire_messages "
            "WHERE thread_id = ?",
            (thread_id,),
        )
        conn.execute("DELETE FROM graphwire_messages WHERE thread_id = ?", (thread_id,))


def _select_in(
    conn: sqlite3.Connection, query: str, params: Sequence[Any], values: Sequence[Any]
) -> Iterator[Any]:
    """The rows of ``query`` with its ``IN ({})`` over ``values``, a chunk at a time."""
    for at in range(0, len(values), _CHUNK):
        chunk = values[at : at + _CHUNK]
        yield from conn.execute(query.format(", ".join("?" * len(chunk))), (*params, *chunk))


def _blobs(conn: sqlite3.Connection, thread_id: str, ids: Sequence[str]) -> Iterator[bytes]:
    """The msgpack checkpoints ``ids`` of a thread's root namespace (those that
    may refer to rows: those written before there was a type ``REFERENCED`` are msgpack)."""
    query = (
        "SELECT checkpoint FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
        "AND type IN ('msgpack', ?) AND checkpoint_id IN ({})"
    )
    for (blob,) in _select_in(conn, query, (thread_id, REFERENCED), ids):
        yield blob


def _prune(
    conn: sqlite3.Connection,
    thread_id: str,
    turns: int,
    kinds: dict[str, str],
    rows: _MessageRows,
) -> None:
    """Drop what the retention does not keep (see ``SqliteCheckpointer``).

    ``kinds``: what is known of the thread's checkpoints (``_kind``), kept up
    to date here. A row's metadata is stored after its checkpoint, so reading
    it walks the whole checkpoint: only rows not known yet are read."""
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT checkpoint_id FROM checkpoints "
            "WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id DESC",
            (thread_id,),
        )
    ]
    for stale in kinds.keys() - set(ids):  # pruned or deleted by another checkpointer
        del kinds[stale]
    unknown = [i for i in ids if i not in kinds]
    query = (
        "SELECT checkpoint_id, metadata FROM checkpoints WHERE thread_id = ? "
        "AND checkpoint_ns = '' AND checkpoint_id IN ({})"
    )
    kinds.update(
        (checkpoint_id, _kind(json.loads(meta)))
        for checkpoint_id, meta in _select_in(conn, query, (thread_id,), unknown)
    )
    if any(kinds[i] == "delta" for i in ids):
        return
    starts = [n for n, i in enumerate(ids) if kinds[i] == "input"]
    if len(starts) < 3:
        return
    # Newest first: this turn and the one before whole, then two per turn.
    keep = set(range(starts[1] + 1))
    for start in starts[2 : 2 + turns]:
        keep.update((start, start - 1))
    gone = [ids[n] for n in range(len(ids)) if n not in keep]
    if not gone:
        return
    rows.sweep(thread_id, gone, [ids[n] for n in sorted(keep)])
    for table in ("checkpoints", "writes"):
        conn.executemany(
            f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id = ?",
            [(thread_id, checkpoint_id) for checkpoint_id in gone],
        )
    for checkpoint_id in gone:
        del kinds[checkpoint_id]


def _kind(metadata: Mapping[str, Any]) -> str:
    """What the retention needs of a checkpoint's metadata."""
    if _DELTA_METADATA in metadata:
        return "delta"
    return "input" if metadata.get("source") == "input" else "step"


def _identity(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def _wal_identity(path: str) -> tuple[int, int] | None:
    """The identity of the database's write-ahead log (None: there is none)."""
    try:
        return _identity(f"{path}-wal")
    except FileNotFoundError:
        return None


class _SaverConnection:
    """The file's connection as LangGraph's SqliteSaver sees it: its commits are
    left to the database thread, which commits each batch of jobs at once."""

    def __init__(self, file: SqliteFile) -> None:
        self._file = file  # its connection now (it is opened again if read-only)

    def cursor(self) -> sqlite3.Cursor:
        return self._file.conn.cursor()

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self._file.conn.execute(sql, parameters)

    def executescript(self, script: str) -> sqlite3.Cursor:
        return self._file.conn.executescript(script)

    def commit(self) -> None:
        """The thread commits: see ``_db_thread``."""


class SqliteCheckpointer(BaseCheckpointSaver[str]):
    """LangGraph's SqliteSaver on the file's thread: every method — async, or sync
    from any thread — runs the sync saver there as one job.

    Retention: SqliteSaver stores every checkpoint whole, so a thread's file
    would grow with the square of its messages. When a turn starts (a root
    checkpoint whose source is "input"), the thread keeps every checkpoint of
    this turn and the one before, and of the ``turns`` turns before those only
    the two an edit or a regenerate forks from (the turn's input checkpoint and
    the one after it); the rest go, with their writes. Subgraph checkpoints
    and threads of graphs with ``DeltaChannel`` (whose state is rebuilt from
    every write) are kept whole. ``turns`` None keeps everything."""

    def __init__(
        self,
        file: SqliteFile,
        saver: SqliteSaver,
        memo: MessageMemo,
        rows: _MessageRows,
        turns: int | None = None,
    ) -> None:
        """``memo``: the serializer of ``saver``, storing messages in ``rows``."""
        super().__init__(serde=memo)
        self._rows = rows
        self._file = file
        self._saver = saver
        self._turns = turns
        self._kinds: collections.OrderedDict[str, dict[str, str]] = collections.OrderedDict()
        """What ``_prune`` knows of a thread's checkpoints."""

    @property
    def _memo(self) -> MessageMemo:
        """The serializer (of ``_saver`` too)."""
        return cast(MessageMemo, self.serde)

    def with_allowlist(
        self, extra_allowlist: Collection[tuple[str, ...]]
    ) -> BaseCheckpointSaver[str]:
        """LangGraph's clone with a graph's msgpack allowlist, its saver's too."""
        clone = super().with_allowlist(extra_allowlist)
        if isinstance(clone, SqliteCheckpointer) and clone is not self:
            clone._saver = copy.copy(self._saver)
            clone._saver.serde = clone.serde
        return clone

    # -- async: on the database thread -----------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._file.call(self._get_tuple, config, mode="read")

    def _get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with self._memo.scope(config):
            return self._saver.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """The listing in pages of a few checkpoints: a caller that stops early
        (a fork search) decodes no more than it reads."""
        left = limit
        while left is None or left > 0:
            page = min(_PAGE, left) if left is not None else _PAGE
            listing = self._listing(config, filter, before, page)
            items = await self._file.call(listing, mode="read")
            for item in items:
                yield item
            if len(items) < page:
                return
            before = items[-1].config
            left = None if left is None else left - len(items)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._file.call(self._put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._file.call(self._put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._file.call(self._delete_thread, thread_id)

    def _delete_thread(self, thread_id: str) -> None:
        self._saver.delete_thread(thread_id)
        self._rows.delete_thread(thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return await self._file.call(self._delta_history, config, channels, mode="read")

    def _delta_history(self, config: RunnableConfig, channels: Sequence[str]) -> Mapping[str, Any]:
        """The saver's, in the thread's scope: its checkpoints may hold references."""
        with self._memo.scope(config):
            return self._saver.get_delta_channel_history(config=config, channels=channels)

    # -- sync: the same jobs, waited for ---------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._file.call_blocking(partial(self._get_tuple, config), "read")

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        listing = self._listing(config, filter, before, limit)
        return iter(self._file.call_blocking(listing, "read"))

    def _listing(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Callable[[], Sequence[CheckpointTuple]]:
        """The job that reads a listing whole (a job cannot hand back a live cursor).
        Each checkpoint is read in its own thread and namespace: a listing of a
        thread without ``checkpoint_ns`` (its subgraphs' too), or of every
        thread, finds its rows as LangGraph's does (its WHERE, its order, its
        limit), then reads each one where it belongs."""

        def listing() -> Sequence[CheckpointTuple]:
            if config is not None and config["configurable"].get("checkpoint_ns") is not None:
                with self._memo.scope(config):  # one namespace of one thread: the memo's
                    return list(self._saver.list(config, filter=filter, before=before, limit=limit))
            return self._each(config, filter, before, limit)

        return listing

    def _each(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Sequence[CheckpointTuple]:
        """LangGraph's listing (its WHERE, order and limit; its KeyError for a
        config without a thread), each checkpoint read in its own namespace."""
        where, params = search_where(config, filter, before)
        query = f"SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints {where} "
        query += "ORDER BY checkpoint_id DESC" + (" LIMIT ?" if limit is not None else "")
        found = self._file.conn.execute(query, [*params, limit] if limit is not None else params)
        items = []
        for thread_id, namespace, checkpoint_id in found.fetchall():
            one: RunnableConfig = {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": namespace,
                    "checkpoint_id": checkpoint_id,
                }
            }
            with self._memo.scope(one, remember=False):  # many threads: keep none
                item = self._saver.get_tuple(one)
            if item is not None:
                items.append(item)
        return items

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._file.call_blocking(
            partial(self._put, config, checkpoint, metadata, new_versions)
        )

    def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """The saver's put, then the retention when a turn starts (one job)."""
        configurable = config["configurable"]
        # An input checkpoint copies its parent, read just before: no node ran.
        parent = configurable.get("checkpoint_id") if metadata.get("source") == "input" else None
        with self._memo.scope(config, checkpoint=True, copied_from=parent):
            saved = self._saver.put(config, checkpoint, metadata, new_versions)
        if self._turns is None or configurable.get("checkpoint_ns"):
            return saved
        thread_id = str(configurable["thread_id"])
        kinds = self._kinds.pop(thread_id, {})
        self._kinds[thread_id] = kinds
        while len(self._kinds) > _KINDS:
            self._kinds.popitem(last=False)
        kinds[checkpoint["id"]] = _kind(metadata)
        if kinds[checkpoint["id"]] == "input":
            _prune(self._file.conn, thread_id, self._turns, kinds, self._rows)
        return saved

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        put = partial(self._put_writes, config, writes, task_id, task_path)
        self._file.call_blocking(put)

    def _put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        with self._memo.scope(config):
            self._saver.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        self._file.call_blocking(partial(self._delete_thread, thread_id))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return self._file.call_blocking(partial(self._delta_history, config, channels), "read")

    def get_next_version(self, current: str | None, channel: None) -> str:
        return self._saver.get_next_version(current, channel)
