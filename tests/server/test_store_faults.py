"""A store that cannot be used is said so — 503 ``STORE_UNAVAILABLE``, a RUN_ERROR
with that code mid-stream, a readiness route that tells — and nothing is
written into a database file that is gone (a real ``graphwire serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from ag_ui.core import RunErrorEvent, RunFinishedEvent
from langgraph.checkpoint.memory import InMemorySaver
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import tuple_row

from graphwire.demo import build_demo_graph
from graphwire.protocol import StoreUnavailableError
from graphwire.server import Agent
from graphwire.tasks import PostgresTaskStore, postgres_checkpointer
from graphwire.tasks.stores import postgres as postgres_store
from graphwire.tasks.stores.postgres import PostgresCheckpointer
from tests.files import set_writable
from tests.processes import serve, wait_healthy
from tests.server.conftest import live_server, read_events, run_body
from tests.server.test_tasks_http import until
from tests.tasks.test_crash import AGENT as SLOW_AGENT


@contextlib.asynccontextmanager
async def _served(tmp_path: Path, args: Sequence[str] = ()) -> AsyncIterator[httpx.AsyncClient]:
    env = {
        "GRAPHWIRE_DATA_DIR": str(tmp_path / "data"),
        "GRAPHWIRE_STORE_BUSY_TIMEOUT_SECONDS": "0.5",
        "GRAPHWIRE_TASK_LEASE_SECONDS": "2",
    }
    path = tmp_path / "server.log"  # not a pipe: an outage's warnings would fill it
    with path.open("w") as log:
        process, url = serve(list(args), tmp_path, env, log=log)
        try:
            await wait_healthy(url)
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                yield client
        finally:
            process.terminate()
            process.communicate(timeout=30)
    logged = path.read_text()
    assert "Traceback" not in logged, logged[-5000:]


async def _chat(client: httpx.AsyncClient, thread: str) -> RunFinishedEvent | RunErrorEvent:
    _, events = await read_events(
        client, "POST", "/agents/demo", json=run_body(thread=thread, run=f"r-{thread}")
    )
    last = events[-1]
    assert isinstance(last, RunFinishedEvent | RunErrorEvent)
    return last


async def test_a_lock_held_past_the_busy_timeout_is_a_503_and_reads_go_on(
    tmp_path: Path,
) -> None:
    async with _served(tmp_path) as client:
        created = await client.post("/agents/demo/tasks", json={"prompt": "before"})
        assert created.status_code == 201
        assert isinstance(await _chat(client, "before"), RunFinishedEvent)
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        with _write_locked(tmp_path / "data" / "graphwire.sqlite"):
            refused = await client.post("/agents/demo/tasks", json={"prompt": "during"})
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
            board = await client.get("/tasks")  # reads take no write lock
            one = await client.get(f"/tasks/{created.json()['taskId']}")
            thread = await client.get("/agents/demo/threads/before")
            run_end = await _chat(client, "locked")
        assert refused.status_code == 503
        assert refused.json()["code"] == "STORE_UNAVAILABLE"
        assert ready.status_code == 503 and ready.json()["code"] == "STORE_UNAVAILABLE"
        assert alive.status_code == 200  # alive, not ready
        assert board.status_code == 200 and one.status_code == 200
        assert thread.status_code == 200 and thread.json()["messages"]
        assert isinstance(run_end, RunErrorEvent) and run_end.code == "STORE_UNAVAILABLE"
        # The lock is gone: everything works again, nothing was half-written.
        async with asyncio.timeout(20):  # the pools connect again (with a backoff)
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.2)
        assert isinstance(await _chat(client, "after"), RunFinishedEvent)
        prompts = [t["prompt"] for t in (await client.get("/tasks")).json()["tasks"]]
        assert prompts == ["before"]
        # The task that was running when the lock came runs again and finishes.
        assert (await until(client, created.json()["taskId"], "done"))["attempt"] >= 1


@pytest.mark.parametrize("deleted", ["data", "data/graphwire.sqlite-wal"])
async def test_a_data_directory_deleted_while_serving_is_refused(
    tmp_path: Path, deleted: str
) -> None:
    gone = tmp_path / deleted
    async with _served(tmp_path) as client:
        assert isinstance(await _chat(client, "first"), RunFinishedEvent)
        if gone.is_dir():
            shutil.rmtree(gone)
        else:
            gone.unlink()
        run = await client.post("/agents/demo", json=run_body(thread="second", run="r2"))
        task = await client.post("/agents/demo/tasks", json={"prompt": "into the void"})
        thread = await client.get("/agents/demo/threads/first")
        ready = await client.get("/readyz")
    for refused in (run, task, thread, ready):
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "STORE_UNAVAILABLE"
        assert "deleted or replaced" in refused.json()["message"]
    assert not gone.exists()  # nothing recreated, nothing written


async def test_a_database_file_that_was_read_only_at_start_is_used_once_it_is_writable(
    tmp_path: Path,
) -> None:
    """SQLite opens a file it cannot write read-only, and such a connection
    stays read-only: the server said 503 until it was restarted. Now a write
    refused as read-only opens the file again for the next one."""
    async with _served(tmp_path) as client:
        assert isinstance(await _chat(client, "before"), RunFinishedEvent)
    database = tmp_path / "data" / "graphwire.sqlite"
    set_writable(database, False)
    try:
        async with _served(tmp_path) as client:
            ready = await client.get("/readyz")
            refused = await client.post("/agents/demo/tasks", json={"prompt": "read-only"})
            thread = await client.get("/agents/demo/threads/before")  # reads go on
            set_writable(database, True)
            again = await client.get("/readyz")
            created = await client.post("/agents/demo/tasks", json={"prompt": "writable"})
            assert created.status_code == 201, created.text
            run_end = await _chat(client, "after")
            done = await until(client, created.json()["taskId"], "done")
    finally:
        set_writable(database, True)
    for unavailable in (ready, refused):
        assert unavailable.status_code == 503, unavailable.text
        assert "readonly" in unavailable.json()["message"]
    assert thread.status_code == 200 and thread.json()["messages"]
    assert again.status_code == 200, again.text
    assert isinstance(run_end, RunFinishedEvent)
    assert done["prompt"] == "writable"


@contextlib.contextmanager
def _outage(admin_url: str, url: str) -> Iterator[None]:
    """The database refuses every connection, and its open ones are cut."""
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            yield
        finally:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


async def test_a_postgresql_outage_is_a_503_and_then_over(
    postgres_admin: str, postgres_url: str, tmp_path: Path
) -> None:
    """LangGraph's checkpointer says it as the task store does: a thread's state
    is a 503 ``STORE_UNAVAILABLE``, not a 500."""
    async with _served(tmp_path, ["--store", postgres_url]) as client:
        assert isinstance(await _chat(client, "before"), RunFinishedEvent)
        with _outage(postgres_admin, postgres_url):
            thread = await client.get("/agents/demo/threads/before")  # the checkpointer
            run = await client.post("/agents/demo", json=run_body(thread="during", run="r2"))
            ready = await client.get("/readyz")
        for refused in (thread, run, ready):
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "STORE_UNAVAILABLE"
        async with asyncio.timeout(20):  # the pools connect again (with a backoff)
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.2)
        assert isinstance(await _chat(client, "after"), RunFinishedEvent)
        after = await client.get("/agents/demo/threads/before")
        assert after.status_code == 200 and after.json()["messages"]


async def test_a_postgresql_lock_held_past_the_busy_timeout_is_a_503(
    postgres_url: str, tmp_path: Path
) -> None:
    """A lock another session holds is waited for ``store_busy_timeout_seconds``
    (0.5 here), as on SQLite — not until it goes; then all is as before."""
    async with _served(tmp_path, ["--store", postgres_url]) as client:
        assert isinstance(await _chat(client, "before"), RunFinishedEvent)
        tables = "graphwire_tasks, graphwire_probe, checkpoints"
        with psycopg.connect(postgres_url) as other:  # one transaction, held
            other.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
            async with asyncio.timeout(10):
                thread = await client.get("/agents/demo/threads/before")  # the checkpointer
                task = await client.post("/agents/demo/tasks", json={"prompt": "x"})
                ready = await client.get("/readyz")
            other.rollback()
        for refused in (thread, task, ready):
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "STORE_UNAVAILABLE"
        assert (await client.get("/readyz")).status_code == 200
        assert isinstance(await _chat(client, "after"), RunFinishedEvent)
        assert (await client.get("/tasks")).json()["tasks"] == []  # the 503 wrote nothing


@pytest.mark.parametrize(
    ("away", "back"),
    [
        ("REVOKE ALL ON graphwire_tasks FROM {role}", "GRANT ALL ON graphwire_tasks TO {role}"),
        (
            "ALTER TABLE graphwire_tasks RENAME TO away",
            "ALTER TABLE away RENAME TO graphwire_tasks",
        ),
    ],
)
async def test_a_tasks_table_the_role_cannot_use_is_a_503_and_the_workers_go_on(
    postgres_admin: str, postgres_url: str, tmp_path: Path, away: str, back: str
) -> None:
    """Not an outage to psycopg (a ProgrammingError): it was a 500 with a
    traceback, /readyz said ready, and every task worker ended for good."""
    async with _served(tmp_path, ["--store", postgres_url]):
        pass  # the schema, made by its owner
    role = f"app_{conninfo_to_dict(postgres_url)['dbname']}"
    with psycopg.connect(postgres_admin, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    with psycopg.connect(postgres_url, autocommit=True) as owner:
        owner.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        owner.execute(f"GRANT CREATE ON SCHEMA public TO {role}")  # LangGraph's setup asks it
        try:
            parts = urlsplit(postgres_url)  # the URL as the owner's, for the role
            limited = urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.split('@')[-1]}"))
            async with _served(tmp_path, ["--store", limited]) as client:
                owner.execute(away.format(role=role))
                try:
                    await asyncio.sleep(1.5)  # the workers' claims fail meanwhile
                    task = await client.post("/agents/demo/tasks", json={"prompt": "x"})
                    ready = await client.get("/readyz")
                finally:
                    owner.execute(back.format(role=role))
                for refused in (task, ready):
                    assert refused.status_code == 503, refused.text
                    assert refused.json()["code"] == "STORE_UNAVAILABLE"
                assert (await client.get("/readyz")).status_code == 200
                created = (await client.post("/agents/demo/tasks", json={"prompt": "hi"})).json()
                async with asyncio.timeout(20):  # a worker is still there to run it
                    while (await client.get(f"/tasks/{created['taskId']}")).json()[
                        "state"
                    ] != "done":
                        await asyncio.sleep(0.1)
        finally:
            owner.execute(f"DROP OWNED BY {role}")
            with psycopg.connect(postgres_admin, autocommit=True) as admin:
                admin.execute(f"DROP ROLE {role}")


class _Unready(InMemorySaver):
    """A checkpointer on a database of its own that cannot be used now (its
    pool has not connected again, say, while the task store's has)."""

    async def probe(self) -> None:
        raise StoreUnavailableError("the checkpoints' database cannot be used now")


async def test_readiness_asks_the_checkpointer_too() -> None:
    @contextlib.asynccontextmanager
    async def unready() -> AsyncIterator[InMemorySaver]:
        yield _Unready()

    agent = Agent("demo", build_demo_graph())
    async with live_server([agent], checkpointer=unready) as url, httpx.AsyncClient() as client:
        ready = await client.get(f"{url}/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.json()["code"] == "STORE_UNAVAILABLE"


async def test_the_postgresql_checkpointer_says_whether_it_can_be_used(
    postgres_admin: str, postgres_url: str
) -> None:
    async with postgres_checkpointer(postgres_url, timeout=0.5) as saver:
        assert isinstance(saver, PostgresCheckpointer)
        await saver.probe()
        with _outage(postgres_admin, postgres_url), pytest.raises(StoreUnavailableError):
            await saver.probe()


async def test_after_a_long_postgresql_outage_it_is_ready_as_soon_as_the_database_is(
    postgres_admin: str, postgres_url: str, tmp_path: Path
) -> None:
    """The pools' reconnect backoff doubles without end (40 s into an outage
    the next try may be 40 s away): each try gives up after the busy timeout,
    and the next request tries again at once."""
    async with _served(tmp_path, ["--store", postgres_url]) as client:
        assert isinstance(await _chat(client, "before"), RunFinishedEvent)
        with _outage(postgres_admin, postgres_url):
            loop = asyncio.get_running_loop()
            ends = loop.time() + 40
            while loop.time() < ends:  # a load balancer asking all along
                assert (await client.get("/readyz")).status_code == 503
                await asyncio.sleep(0.5)
        async with asyncio.timeout(8):  # the backoff alone waited ~20 s more
            while (await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.2)
            assert isinstance(await _chat(client, "after"), RunFinishedEvent)


async def test_postgresql_setup_waits_for_an_open_snapshot_past_the_lock_timeout(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """LangGraph's setup builds an index CONCURRENTLY, which waits for every
    older snapshot: it must not give up after the lock timeout, nor the
    database's statement timeout (an index left INVALID for good), the
    connections wait it again afterwards, and a long wait is logged."""
    monkeypatch.setattr(postgres_store, "SETUP_NOTICE_SECONDS", 0.5)
    name = conninfo_to_dict(postgres_url)["dbname"]
    with psycopg.connect(postgres_url, autocommit=True) as owner:
        owner.execute(f"ALTER DATABASE {name} SET statement_timeout = 1000")
    with psycopg.connect(postgres_url) as other:
        other.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        other.execute("SELECT 1")  # a snapshot, held while idle
        setup = asyncio.ensure_future(_open_checkpointer(postgres_url))
        async with asyncio.timeout(20):  # until the index waits for the snapshot
            while not _waiting_for_a_snapshot(postgres_url):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # three lock timeouts, past the statement timeout
        other.rollback()
    async with asyncio.timeout(30):
        lock_timeout = await setup
    assert lock_timeout == "500ms"
    assert _invalid_indexes(postgres_url) == []
    assert "the checkpoint tables' setup has waited 0.5 s" in caplog.text


async def test_a_checkpoint_index_an_interrupted_setup_left_invalid_is_rebuilt(
    postgres_url: str,
) -> None:
    """An index build CONCURRENTLY cut short (a killed process, a timeout)
    leaves the index INVALID: PostgreSQL keeps it up to date but never uses
    it, and LangGraph's IF NOT EXISTS never builds it again. The next start
    rebuilds it."""
    async with postgres_checkpointer(postgres_url, timeout=0.5):
        pass
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP INDEX checkpoints_thread_id_idx")
        conn.execute("SET statement_timeout = 300")
        with psycopg.connect(postgres_url) as other:
            other.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            other.execute("SELECT 1")  # a snapshot the build waits for, past its timeout
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute(
                    "CREATE INDEX CONCURRENTLY checkpoints_thread_id_idx ON checkpoints(thread_id)"
                )
    assert _invalid_indexes(postgres_url) == ["checkpoints_thread_id_idx"]
    async with postgres_checkpointer(postgres_url, timeout=0.5):
        pass
    assert _invalid_indexes(postgres_url) == []
    with psycopg.connect(postgres_url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'checkpoints_thread_id_idx'"
        ).fetchone()
    assert found == (1,)


async def test_an_invalid_index_a_role_may_not_rebuild_is_logged_and_the_start_goes_on(
    postgres_admin: str, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with postgres_checkpointer(postgres_url, timeout=0.5):
        pass
    role = f"app_{conninfo_to_dict(postgres_url)['dbname']}"
    with psycopg.connect(postgres_admin, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    with psycopg.connect(postgres_url, autocommit=True) as owner:
        owner.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        owner.execute(f"GRANT CREATE ON SCHEMA public TO {role}")  # LangGraph's setup asks it
        owner.execute(  # as a cut-short build leaves it
            "UPDATE pg_index SET indisvalid = false"
            " WHERE indexrelid = 'checkpoints_thread_id_idx'::regclass"
        )
    try:
        limited = make_conninfo(postgres_url, user=role)
        async with postgres_checkpointer(limited, timeout=0.5) as saver:
            assert await saver.aget_tuple({"configurable": {"thread_id": "t"}}) is None
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as owner:
            owner.execute(f"DROP OWNED BY {role}")
        with psycopg.connect(postgres_admin, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
    assert 'REINDEX INDEX CONCURRENTLY "public"."checkpoints_thread_id_idx" failed' in caplog.text
    assert _invalid_indexes(postgres_url) == ["checkpoints_thread_id_idx"]


def _invalid_indexes(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def _waiting_for_a_snapshot(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'virtualxid'"
        ).fetchone()
    return row is not None and row[0] > 0


async def _open_checkpointer(url: str) -> str:
    async with postgres_checkpointer(url, timeout=0.5) as saver:
        assert isinstance(saver, PostgresCheckpointer)
        [lock_timeout] = await _settings(saver.conn, "lock_timeout")
    return lock_timeout


async def _settings(pool: Any, *names: str) -> list[str]:
    """What a connection of ``pool`` has for these settings."""
    async with pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(f"SELECT {', '.join(['current_setting(%s)'] * len(names))}", names)
        row = await cur.fetchone()
    assert row is not None
    return [str(value) for value in row]


async def test_postgresql_connections_keep_the_options_pgoptions_gives(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=7777kB")
    store = await PostgresTaskStore.open(postgres_url, timeout=0.5)
    try:
        shown = await _settings(store._pool, "work_mem", "lock_timeout")
    finally:
        await store.aclose()
    assert shown == ["7777kB", "500ms"]


@pytest.mark.parametrize("store", ["sqlite", "postgres", "postgres-frozen"])
async def test_a_shutdown_while_the_store_cannot_be_used_ends_within_its_grace(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SIGTERM while the store cannot be used (PostgreSQL refusing connections,
    or frozen: answering nothing; SQLite's write lock held by another process,
    busy timeout 10 s), with runs streaming and tasks running: the process is
    gone within ``shutdown_grace_seconds`` (3 s here, and less than a second
    more for pools that cannot close; it took 17 s on PostgreSQL, each claim's
    release and each task's end waiting in turn, 18–28 s frozen, psycopg
    waiting for answers to its cancels, and 10 s on SQLite, its close queued
    behind a job waiting for the lock), says what it could not store, and a
    later start finishes every task."""
    env = {"GRAPHWIRE_TASK_LEASE_SECONDS": "2", "GRAPHWIRE_SHUTDOWN_GRACE_SECONDS": "3"}
    args = [f"slow={SLOW_AGENT}:graph"]
    fault: contextlib.AbstractContextManager[Any]
    if store.startswith("postgres"):
        url, admin = (
            request.getfixturevalue("postgres_url"),
            request.getfixturevalue("postgres_admin"),
        )
        args += ["--store", url]
        env["GRAPHWIRE_STORE_BUSY_TIMEOUT_SECONDS"] = "0.5"
        fault = _frozen(admin) if store.endswith("frozen") else _outage(admin, url)
    else:
        fault = _write_locked(tmp_path / "data" / "graphwire.sqlite")
    path = tmp_path / "server.log"
    with path.open("w") as log:
        process, url = serve(args, tmp_path, env | {"GRAPHWIRE_DATA_DIR": "data"}, log=log)
        try:
            await wait_healthy(url)
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                tasks = [
                    (await client.post("/agents/slow/tasks", json={"prompt": f"t{n}"})).json()
                    for n in range(3)
                ]
                streaming = [asyncio.Event() for _ in range(20)]
                chats = [
                    asyncio.ensure_future(_stream(client, f"c{n}", started))
                    for n, started in enumerate(streaming)
                ]
                async with asyncio.timeout(20):
                    for started in streaming:
                        await started.wait()
                with fault:
                    await asyncio.sleep(1)
                    loop = asyncio.get_running_loop()
                    began = loop.time()
                    process.terminate()
                    await asyncio.to_thread(process.wait, 60)
                    took = loop.time() - began
                await asyncio.gather(*chats, return_exceptions=True)
        finally:
            process.kill()
            process.communicate(timeout=30)
    logged = path.read_text()
    assert took < 3 + 1.5, f"{took:.1f} s\n{logged[-3000:]}"  # the interpreter's exit: < 1 s
    assert "could not be stored before shutdown" in logged
    async with _served(tmp_path, args) as client:
        for task in tasks:  # their leases lapsed: they run again, to the end
            assert (await until(client, task["taskId"], "done", seconds=30))["attempt"] >= 1


async def _stream(client: httpx.AsyncClient, thread: str, started: asyncio.Event) -> None:
    """A chat on ``thread``, read to its end (or the server's); ``started`` once it streams."""
    body = run_body(thread=thread, run=f"r-{thread}")
    async with client.stream("POST", "/agents/slow", json=body) as response:
        async for _ in response.aiter_lines():
            started.set()


@contextlib.contextmanager
def _frozen(admin_url: str) -> Iterator[None]:
    """The PostgreSQL server answers nothing (SIGSTOP): connects and queries hang."""
    if os.environ.get("GRAPHWIRE_TEST_POSTGRES"):
        pytest.skip("a PostgreSQL server of yours is not ours to stop")
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute("SELECT pid, pid = pg_backend_pid() FROM pg_stat_activity").fetchall()
        mine = next(pid for pid, own in rows if own)
        postmaster = int(Path(f"/proc/{mine}/stat").read_text().rsplit(") ", 1)[1].split()[1])
    pids = [postmaster, *(pid for pid, own in rows if not own)]
    try:
        os.kill(postmaster, signal.SIGSTOP)
    except PermissionError:
        pytest.skip("the PostgreSQL server is not ours to stop")
    for pid in pids[1:]:
        with contextlib.suppress(ProcessLookupError):  # a backend gone meanwhile
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def _write_locked(database: Path) -> Iterator[None]:
    """Another process holds the SQLite file's write lock."""
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
