"""One SQLite file, one database thread: the task store and the LangGraph
checkpointer share both.

Every operation — a task transition, a log append, a checkpoint put — runs as
one function on the file's own thread: one hop from the event loop per
operation, and no two connections of this process ever wait on each other's
write lock (docs/adr/0005-task-engine.md). Other processes on the same file
are kept apart by SQLite's own locking (WAL, busy timeout).
"""

from __future__ import annotations

import asyncio
import collections
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.sqlite import SqliteSaver

_T = TypeVar("_T")
_HAND_BACK_SECONDS = 0.001
"""Longest a finished result waits while the database thread works through a queue."""


class _Dry:
    """The queue is empty (for now)."""


_DRY = _Dry()
_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000")


_Job = tuple[asyncio.Future[Any], Callable[[], Any]] | None


class _DatabaseThread:
    """A thread that runs submitted functions and hands results back to the event
    loop (lighter than an executor: no concurrent.futures layer). Urgent jobs —
    the task store's, which workers and clients wait on — go before queued
    checkpoint writes."""

    def __init__(self, name: str) -> None:
        self._urgent: collections.deque[_Job] = collections.deque()
        self._normal: collections.deque[_Job] = collections.deque()
        self._wake: queue.SimpleQueue[None] = queue.SimpleQueue()  # one token per job
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[], _T], urgent: bool = False) -> _T:
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._put((future, fn), urgent)
        return await future

    def stop(self) -> None:
        """Finish the queued jobs, then end the thread."""
        self._put(None, urgent=False)

    def _put(self, job: _Job, urgent: bool) -> None:
        (self._urgent if urgent else self._normal).append(job)
        self._wake.put(None)

    def _next(self, block: bool) -> _Job | _Dry:
        try:
            self._wake.get(block=block)
        except queue.Empty:
            return _DRY
        return self._urgent.popleft() if self._urgent else self._normal.popleft()

    def _serve(self) -> None:
        done: list[tuple[asyncio.Future[Any], bool, Any]] = []
        since = 0.0
        while True:
            job = self._next(block=not done)
            if job is _DRY or job is None or time.monotonic() - since > _HAND_BACK_SECONDS:
                # Hand back every finished result in one wake-up of the event loop:
                # when the queue runs dry, or at the latest after a short while.
                _post(done)
                done = []
            if job is None:
                return
            if isinstance(job, _Dry):
                continue
            future, fn = job
            if not done:
                since = time.monotonic()
            try:
                done.append((future, True, fn()))
            except Exception as exc:  # handed to the awaiting coroutine, which raises it
                done.append((future, False, exc))


def _post(done: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for item in done:
        by_loop.setdefault(item[0].get_loop(), []).append(item)
    for loop, items in by_loop.items():
        loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in items:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class SqliteFile:
    """A SQLite file opened by its users (``acquire``/``release``), closed by the last."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._thread: _DatabaseThread | None = None
        self._users = 0
        self._conn: sqlite3.Connection | None = None
        self._saver: SqliteSaver | None = None

    async def acquire(self, schema: str = "") -> None:
        """Open the file (first user) and make sure ``schema`` exists."""
        self._users += 1
        ready = False
        try:
            if self._users == 1:
                self._thread = _DatabaseThread(f"graphwire-sqlite-{Path(self.path).name}")
                await self.call(self._connect)
            if schema:
                await self.call(lambda: self.conn.executescript(schema))
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
        try:
            await thread.call(self._close)
        finally:
            thread.stop()

    async def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on the database thread (after any urgent work)."""
        return await self._thread_or_fail().call(partial(fn, *args) if args else fn)

    async def call_urgent(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn()`` on the database thread before queued non-urgent work."""
        return await self._thread_or_fail().call(fn, urgent=True)

    def _thread_or_fail(self) -> _DatabaseThread:
        if self._thread is None:
            raise RuntimeError(f"the SQLite file {self.path} is not open")
        return self._thread

    @property
    def conn(self) -> sqlite3.Connection:
        """The task store's connection (autocommit; use ``transaction``)."""
        if self._conn is None:
            raise RuntimeError(f"the SQLite file {self.path} is not open")
        return self._conn

    def transaction(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` in one IMMEDIATE transaction (on the database thread)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        committed = False
        try:
            result = fn(conn)
            conn.execute("COMMIT")
            committed = True
        finally:
            if not committed:
                conn.execute("ROLLBACK")
        return result

    def checkpointer(self) -> SqliteCheckpointer:
        """LangGraph checkpoints in this file, on this file's thread."""
        if self._saver is None:
            raise RuntimeError(f"the SQLite file {self.path} is not open")
        return SqliteCheckpointer(self, self._saver)

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        for pragma in _PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")
        # The checkpointer's own connection: the sync SqliteSaver commits per call.
        saver_conn = sqlite3.connect(self.path, check_same_thread=False)
        saver_conn.execute(f"PRAGMA {_PRAGMAS[2]}")
        saver = SqliteSaver(saver_conn)
        saver.setup()
        self._conn, self._saver = conn, saver

    def _close(self) -> None:
        if self._saver is not None:
            self._saver.conn.close()
        if self._conn is not None:
            self._conn.close()
        self._conn = self._saver = None


class SqliteCheckpointer(BaseCheckpointSaver[str]):
    """LangGraph's SqliteSaver, driven from the event loop one hop per operation.

    Async methods run the sync saver on the file's thread. The sync methods call
    it directly (its connection allows any thread; its lock serialises them).
    """

    def __init__(self, file: SqliteFile, saver: SqliteSaver) -> None:
        super().__init__(serde=saver.serde)
        self._file = file
        self._saver = saver

    # -- async: on the database thread -----------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._file.call(self._saver.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        def read() -> list[CheckpointTuple]:
            return list(self._saver.list(config, filter=filter, before=before, limit=limit))

        for item in await self._file.call(read):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._file.call(self._saver.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._file.call(self._saver.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._file.call(self._saver.delete_thread, thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        history = self._saver.get_delta_channel_history
        return await self._file.call(partial(history, config=config, channels=channels))

    # -- sync: directly ---------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._saver.get_tuple(config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        return self._saver.list(config, filter=filter, before=before, limit=limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._saver.put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._saver.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        self._saver.delete_thread(thread_id)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return self._saver.get_delta_channel_history(config=config, channels=channels)

    def get_next_version(self, current: str | None, channel: None) -> str:
        return self._saver.get_next_version(current, channel)
