"""SqliteFile: the task store and the LangGraph checkpointer on one file and thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest
from ag_ui.core import RunFinishedEvent, UserMessage
from langchain_core.messages import HumanMessage

from graphwire.protocol import StoreUnavailableError
from graphwire.tasks import SqliteFile, SqliteTaskStore, TaskNotFoundError, TaskQuery, TaskSpec
from graphwire.tasks.stores import _db_thread as db_thread
from graphwire.tasks.stores._db_thread import TransactionEndedError
from tests.files import set_writable
from tests.graphs import agent_graph, collect, user_input
from tests.tasks.graphs import review_graph


async def test_checkpointer_serves_chat_history_forks_and_sync_calls(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "one.sqlite")
    await file.acquire()
    try:
        graph = agent_graph(["first", "second", "redo"]).copy(
            update={"checkpointer": file.checkpointer()}
        )
        await collect(graph, user_input("hi", run="r1", msg_id="u1"))
        second = user_input("more", run="r2", msg_id="u2")
        second.messages.insert(0, UserMessage(id="u1", content="hi"))
        await collect(graph, second)
        config = {"configurable": {"thread_id": "t1"}}
        history = [s async for s in graph.aget_state_history(config)]
        assert len(history) >= 4
        # Regenerate from the first message: a fork found through the history.
        await collect(graph, user_input("hi", run="r3", msg_id="u1"))
        state = await graph.aget_state(config)
        assert [m.content for m in state.values["messages"]] == ["hi", "redo"]
        # The sync API works too (called from this thread, not the database thread).
        assert graph.get_state(config).values == state.values
    finally:
        await file.release()


async def test_interrupts_survive_in_the_file(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "one.sqlite")
    await file.acquire()
    try:
        graph = review_graph().copy(update={"checkpointer": file.checkpointer()})
        events = await collect(graph, user_input("deploy"))
        finished = events[-1]
        assert isinstance(finished, RunFinishedEvent)
        assert finished.outcome is not None
        assert finished.outcome.type == "interrupt"
        [pending] = finished.outcome.interrupts
        resume = user_input(
            "deploy",
            run="r2",
            resume=[{"interruptId": pending.id, "status": "resolved", "payload": "ok"}],
        )
        await collect(graph, resume)
        state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
        assert state.values["messages"][-1].content == "approved: ok"
    finally:
        await file.release()


async def test_shared_file_closes_with_its_last_user(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "one.sqlite")
    await file.acquire()
    store = await SqliteTaskStore.on(file)
    await file.acquire()  # a second user, as the server's checkpointer is
    task = await store.create(TaskSpec(agent="a", prompt="x"))
    with pytest.raises(TaskNotFoundError):  # errors raised on the thread reach the caller
        await store.get("missing")
    await file.release()
    assert (await store.get(task.id)).id == task.id  # still open for the other user
    saver = file.checkpointer()
    await saver.aput_writes(
        {"configurable": {"thread_id": "x", "checkpoint_ns": "", "checkpoint_id": "c"}},
        [("messages", [HumanMessage("hi")])],
        "task-1",
    )
    await file.release()
    with pytest.raises(RuntimeError, match="not open"):
        await store.get(task.id)
    reopened = await SqliteTaskStore.open(tmp_path / "one.sqlite")
    try:
        assert (await reopened.get(task.id)).id == task.id
    finally:
        await reopened.aclose()


async def test_jobs_commit_together_but_fail_alone(tmp_path: Path) -> None:
    path = tmp_path / "one.sqlite"
    file = SqliteFile(path)
    await file.acquire("CREATE TABLE IF NOT EXISTS t (x INTEGER)")

    def insert(n: int) -> int:
        file.conn.execute("INSERT INTO t VALUES (?)", (n,))
        if n % 2:
            raise ValueError(n)  # after writing: the job's write must be undone
        return n

    try:
        results = await asyncio.gather(
            *(file.call(insert, n) for n in range(20)), return_exceptions=True
        )
        assert [r for r in results if not isinstance(r, BaseException)] == list(range(0, 20, 2))
        assert sum(isinstance(r, ValueError) for r in results) == 10
        # What a caller was told is committed: another connection (process) sees it.
        with contextlib.closing(sqlite3.connect(path)) as other:
            rows = [x for (x,) in other.execute("SELECT x FROM t ORDER BY x")]
        assert rows == list(range(0, 20, 2))
    finally:
        await file.release()


async def test_a_job_that_breaks_the_transaction_fails_alone_and_the_thread_survives(
    tmp_path: Path,
) -> None:
    path = tmp_path / "one.sqlite"
    file = SqliteFile(path)
    await file.acquire("CREATE TABLE IF NOT EXISTS t (x INTEGER)")

    def script() -> None:  # executescript COMMITs on its own: not a transactional job
        file.conn.executescript("INSERT INTO t VALUES (99);")

    def insert(n: int) -> int:
        file.conn.execute("INSERT INTO t VALUES (?)", (n,))
        return n

    try:
        async with asyncio.timeout(10):  # a dead thread would leave every job waiting
            with pytest.raises(TransactionEndedError):
                await file.call(script)
            assert await file.call(lambda: insert(1)) == 1
            store = await SqliteTaskStore.on(file)
            task = await store.create(TaskSpec(agent="a", prompt="still works"))
            assert (await store.get(task.id)).prompt == "still works"
    finally:
        async with asyncio.timeout(10):
            await file.release()


async def test_no_result_is_handed_back_when_a_later_job_undid_its_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_thread, "HAND_BACK_SECONDS", 60.0)  # one batch, whatever the timing
    path = tmp_path / "one.sqlite"
    file = SqliteFile(path)
    await file.acquire("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    gate = threading.Event()

    def insert(n: int) -> int:
        file.conn.execute("INSERT INTO t VALUES (?)", (n,))
        return n

    def roll_back() -> None:
        file.conn.execute("ROLLBACK")  # undoes the batch's earlier writes too

    try:
        blocker = asyncio.ensure_future(file.call(gate.wait))
        await asyncio.sleep(0.05)  # the thread is held in the first job
        written = asyncio.ensure_future(file.call(lambda: insert(1)))
        undone = asyncio.ensure_future(file.call(roll_back))
        await asyncio.sleep(0.05)
        gate.set()
        async with asyncio.timeout(10):
            results = await asyncio.gather(blocker, written, undone, return_exceptions=True)
        with contextlib.closing(sqlite3.connect(path)) as other:
            rows = [x for (x,) in other.execute("SELECT x FROM t")]
    finally:
        gate.set()
        async with asyncio.timeout(10):
            await file.release()
    assert rows == []
    # Told the truth: no job whose write is gone was reported done.
    assert isinstance(results[1], TransactionEndedError)
    assert isinstance(results[2], TransactionEndedError)


async def test_a_read_only_database_is_unavailable_reads_go_on_and_writes_come_back(
    tmp_path: Path,
) -> None:
    """SQLite opens a file it cannot write read-only, and such a connection
    stays so: a write it refuses opens the file again for the next write."""
    path = tmp_path / "one.sqlite"
    store = await SqliteTaskStore.open(path)
    task = await store.create(TaskSpec(agent="a", prompt="written before"))
    await store.aclose()
    set_writable(path, False)
    try:
        store = await SqliteTaskStore.open(path)
        try:
            with pytest.raises(StoreUnavailableError, match="readonly"):
                await store.create(TaskSpec(agent="a", prompt="refused"))
            with pytest.raises(StoreUnavailableError, match="readonly"):
                await store.probe()  # opened again, still read-only
            assert (await store.get(task.id)).prompt == "written before"
            set_writable(path, True)
            await store.probe()
            again = await store.create(TaskSpec(agent="a", prompt="written after"))
            assert (await store.get(again.id)).prompt == "written after"
        finally:
            await store.aclose()
    finally:
        set_writable(path, True)


async def test_reads_take_no_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "one.sqlite"
    file = SqliteFile(path)  # the default busy timeout (10 s): a blocked read would wait it out
    await file.acquire()
    try:
        store = await SqliteTaskStore.on(file)
        graph = agent_graph(["hello"]).copy(update={"checkpointer": file.checkpointer()})
        await collect(graph, user_input("hi"))
        task = await store.create(TaskSpec(agent="a", prompt="x"))
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            async with asyncio.timeout(2):
                assert (await store.get(task.id)).id == task.id
                assert await store.read_events(task.id) == []
                state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
                assert state.values["messages"][-1].content == "hello"
            other.execute("ROLLBACK")
    finally:
        await file.release()


async def test_writes_queued_behind_a_lock_wait_the_busy_timeout_once_not_in_turn(
    tmp_path: Path,
) -> None:
    """Another process holds the write lock: jobs that queued up while the first
    waited have waited too — each fails once ``busy_timeout`` has passed since
    it was asked, not after the waits of all ahead of it (forty jobs: ~1 s, not
    ~40 s), and a read asked meanwhile is answered within it."""
    path = tmp_path / "one.sqlite"
    file = SqliteFile(path, busy_timeout=1.0)
    await file.acquire("CREATE TABLE IF NOT EXISTS t (x)")
    try:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            started = loop.time()

            def write() -> None:
                file.conn.execute("INSERT INTO t VALUES (1)")

            def read() -> int:
                return int(file.conn.execute("SELECT count(*) FROM t").fetchone()[0])

            writes = [file.call(write) for _ in range(40)]
            asked = [*writes, file.call(read, mode="read")]
            outcomes = await asyncio.gather(*asked, return_exceptions=True)
            elapsed = loop.time() - started
            other.execute("ROLLBACK")
        assert all(isinstance(o, StoreUnavailableError) for o in outcomes[:40]), outcomes
        assert outcomes[40] == 0
        assert elapsed < 3.0, elapsed  # in turn: 40 s
        await file.call(write)  # the lock gone, as before
    finally:
        await file.release()


async def test_a_write_whose_caller_went_stops_waiting_for_the_lock(tmp_path: Path) -> None:
    """A job waits for another process's lock in slices: once its caller has
    stopped waiting (cancelled), it gives up, and the jobs behind it — a read
    here — are not held up the rest of the busy timeout (10 s); a file that
    is closing makes no job wait."""
    path = tmp_path / "one.sqlite"
    file = SqliteFile(path)  # the default busy timeout, 10 s
    await file.acquire("CREATE TABLE IF NOT EXISTS t (x)")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        abandoned = asyncio.ensure_future(
            file.call(lambda: file.conn.execute("INSERT INTO t VALUES (1)"))
        )
        await asyncio.sleep(0.2)  # it waits for the lock
        abandoned.cancel()
        async with asyncio.timeout(2):
            assert await file.call(
                lambda: file.conn.execute("SELECT count(*) FROM t").fetchone(), mode="read"
            ) == (0,)
            waiting = asyncio.ensure_future(
                file.call(lambda: file.conn.execute("INSERT INTO t VALUES (2)"))
            )
            await asyncio.sleep(0.2)
            await file.release()  # closing: the write waiting for the lock fails now
            with pytest.raises(StoreUnavailableError, match="locked"):
                await waiting
        other.execute("ROLLBACK")
        assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)


async def test_a_replaced_database_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "one.sqlite"
    store = await SqliteTaskStore.open(path)
    try:
        await store.create(TaskSpec(agent="a", prompt="first"))
        replacement = tmp_path / "other.sqlite"
        with contextlib.closing(sqlite3.connect(replacement)) as other:
            other.execute("CREATE TABLE marker (x)")
        replacement.replace(path)  # e.g. a backup restored over the live file
        files = _data_files(tmp_path)
        for attempt in (store.create(TaskSpec(agent="a", prompt="lost")), store.probe()):
            with pytest.raises(StoreUnavailableError, match="deleted or replaced"):
                await attempt
        with pytest.raises(StoreUnavailableError, match="deleted or replaced"):
            await store.list_tasks(TaskQuery())
    finally:
        await store.aclose()
    # Nothing was written after the replacement: not the new file, not the journal.
    assert _data_files(tmp_path) == files


async def test_a_deleted_write_ahead_log_is_refused_and_what_it_held_is_kept(
    tmp_path: Path,
) -> None:
    """The -wal deleted under the server: the connection would go on writing
    into a file nobody reads again, and a crash would lose every commit it
    held. Refused; what was committed goes into the database file first."""
    path = tmp_path / "one.sqlite"
    store = await SqliteTaskStore.open(path)
    try:
        kept = await store.create(TaskSpec(agent="a", prompt="kept"))
        Path(f"{path}-wal").unlink()
        with pytest.raises(StoreUnavailableError, match="write-ahead log"):
            await store.create(TaskSpec(agent="a", prompt="lost"))
        with pytest.raises(StoreUnavailableError, match="write-ahead log"):
            await store.probe()
        with pytest.raises(StoreUnavailableError, match="committed is kept in the database file"):
            await store.list_tasks(TaskQuery())
        crashed = tmp_path / "crashed.sqlite"  # what a crash would leave: the file alone
        crashed.write_bytes(path.read_bytes())
        with contextlib.closing(sqlite3.connect(crashed)) as conn:
            ids = [i for (i,) in conn.execute("SELECT id FROM graphwire_tasks")]
        assert ids == [kept.id]
    finally:
        await store.aclose()


async def test_a_deleted_write_ahead_log_that_another_reader_holds_is_not_said_kept(
    tmp_path: Path,
) -> None:
    """A reader on an older state stops the log's copy short: the refusal says
    so at once (it does not wait for the reader), and once the reader has gone,
    the next request copies the rest and says it is kept."""
    path = tmp_path / "one.sqlite"
    store = await SqliteTaskStore.open(path)  # the default busy timeout: 10 s
    try:
        await store.create(TaskSpec(agent="a", prompt="before the reader"))
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as reader:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM graphwire_tasks").fetchone()  # its snapshot
            kept = await store.create(TaskSpec(agent="a", prompt="after it"))
            Path(f"{path}-wal").unlink()
            async with asyncio.timeout(2):  # not the busy timeout
                with pytest.raises(StoreUnavailableError, match="not all that was committed"):
                    await store.probe()
            reader.execute("ROLLBACK")
        with pytest.raises(StoreUnavailableError, match="committed is kept"):
            await store.probe()
        crashed = tmp_path / "crashed.sqlite"
        crashed.write_bytes(path.read_bytes())
        with contextlib.closing(sqlite3.connect(crashed)) as conn:
            ids = {i for (i,) in conn.execute("SELECT id FROM graphwire_tasks")}
        assert kept.id in ids and len(ids) == 2
    finally:
        await store.aclose()


def _data_files(folder: Path) -> dict[str, bytes]:
    """The database files' contents (the -shm index holds locks, not data)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.endswith("-shm")}


async def test_a_full_disk_is_unavailable_not_a_broken_transaction(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "one.sqlite")
    await file.acquire("CREATE TABLE IF NOT EXISTS t (x BLOB)")
    try:
        pages = await file.call(lambda: file.conn.execute("PRAGMA page_count").fetchone()[0])
        await file.call(
            lambda: file.conn.execute(f"PRAGMA max_page_count = {pages + 2}"), mode="raw"
        )

        def fill() -> None:
            file.conn.execute("INSERT INTO t VALUES (?)", (b"x" * 1_000_000,))

        async with asyncio.timeout(10):
            with pytest.raises(StoreUnavailableError, match="full"):
                await file.call(fill)
            assert await file.call(lambda: file.conn.execute("SELECT 1").fetchone()[0]) == 1
    finally:
        await file.release()


async def test_a_data_folder_replaced_by_a_file_fails_calls_not_the_thread(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    store = await SqliteTaskStore.open(folder / "one.sqlite")
    try:
        folder.rename(tmp_path / "moved")
        folder.write_text("not a folder")  # os.stat below it: NotADirectoryError
        async with asyncio.timeout(10):  # a dead thread would leave these waiting
            for _ in range(2):
                with pytest.raises(StoreUnavailableError, match="deleted or replaced"):
                    await store.create(TaskSpec(agent="a", prompt="x"))
    finally:
        async with asyncio.timeout(10):
            await store.aclose()
