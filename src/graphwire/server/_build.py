"""Settings + specs -> the running app: agents loaded, checkpointer provided."""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import math
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from psycopg.conninfo import conninfo_to_dict
from starlette.applications import Starlette

from graphwire.host import (
    AgentSpec,
    ConfigError,
    Settings,
    SpecError,
    load_graph,
    load_settings,
    parse_spec,
)
from graphwire.server._agents import Agent
from graphwire.server._app import (
    AuthHook,
    CheckpointerFactory,
    ServerOptions,
    TaskStoreFactory,
    create_app,
)
from graphwire.server._hosts import LOOPBACK_NAMES
from graphwire.server._uvicorn import ServeError
from graphwire.tasks import (
    MemoryTaskStore,
    PostgresTaskStore,
    RunnerOptions,
    SqliteFile,
    SqliteTaskStore,
    TaskStore,
    postgres_checkpointer,
)

DEMO_SPEC = "graphwire.demo:graph"
RELOAD_ENV = "_GRAPHWIRE_RELOAD_ARGS"
SQLITE_FILE = "graphwire.sqlite"
LOCK_FILE = "graphwire.lock"


@dataclass(frozen=True, slots=True)
class Served:
    app: Starlette
    agents: list[str]
    preflight: Callable[[], None] = lambda: None
    """Refuses with ``ServeError``, before anything starts, a store the app
    could not open: a data directory another process serves (SQLite), a
    PostgreSQL that cannot be used now."""


def agent_specs(settings: Settings, cli_specs: Sequence[str]) -> list[AgentSpec]:
    """CLI specs, else the config's ``agents`` table, else the keyless demo."""
    specs = [parse_spec(text) for text in cli_specs]
    if not specs:
        specs = [
            AgentSpec(name, entry.spec, entry.interrupt_channel)
            for name, entry in settings.agents.items()
        ]
    if not specs:
        specs = [AgentSpec("demo", DEMO_SPEC)]
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"two agents share the name(s) {duplicates}; use NAME=SPEC")
    return specs


def build(settings: Settings, cli_specs: Sequence[str]) -> Served:
    """Load every agent and assemble the app (no I/O until the app starts)."""
    specs = agent_specs(settings, cli_specs)
    agents = [Agent(s.name, load_graph(s), s.target, s.interrupt_channel) for s in specs]
    options = ServerOptions(
        keepalive_seconds=settings.keepalive_seconds,
        send_timeout_seconds=settings.send_timeout_seconds,
        flush_interval_ms=settings.flush_interval_ms,
        max_body_bytes=settings.max_body_bytes,
        retained_run_bytes=settings.retained_run_bytes,
        body_timeout_seconds=settings.body_timeout_seconds,
        api_key=settings.api_key,
        cors_origins=settings.cors_origins,
        allowed_hosts=_hosts(settings.host, settings.allowed_hosts),
        auth_hook=_auth_hook(settings.auth_hook),
        on_disconnect=settings.on_disconnect,
        interrupt_channel=settings.interrupt_channel,
        close_seconds=settings.shutdown_grace_seconds / 2,
        tasks=RunnerOptions(
            workers=settings.task_workers,
            lease_seconds=settings.task_lease_seconds,
            task_timeout=settings.task_timeout_seconds,
            durability=settings.task_durability,
        ),
    )
    if settings.store == "memory":
        app = create_app(agents, options, _memory_saver, _memory_tasks)
    elif settings.store == "postgres" and settings.store_url:
        url, wait = settings.store_url, settings.store_busy_timeout_seconds
        app = create_app(
            agents,
            options,
            lambda: postgres_checkpointer(url, timeout=wait),
            _postgres_tasks(url, wait, settings.kept_run_logs or None),
        )
        return Served(app, [a.name for a in agents], partial(_reachable, url, wait))
    else:
        path = Path(settings.data_dir) / SQLITE_FILE
        file = SqliteFile(
            path,
            busy_timeout=settings.store_busy_timeout_seconds,
            checkpoint_turns=settings.checkpoint_turns or None,
        )
        only = OneProcess(Path(settings.data_dir))
        tasks = _sqlite_tasks(file, only, settings.kept_run_logs or None)
        app = create_app(agents, options, _sqlite_saver(file, only), tasks)
        return Served(app, [a.name for a in agents], partial(_alone, only))
    return Served(app, [a.name for a in agents])


@contextlib.asynccontextmanager
async def _memory_saver() -> AsyncIterator[BaseCheckpointSaver[Any]]:
    yield InMemorySaver()


@contextlib.asynccontextmanager
async def _memory_tasks() -> AsyncIterator[TaskStore]:
    yield MemoryTaskStore()


def _postgres_tasks(url: str, timeout: float, kept_runs: int | None) -> TaskStoreFactory:
    @contextlib.asynccontextmanager
    async def open_store() -> AsyncIterator[TaskStore]:
        store = await PostgresTaskStore.open(url, timeout=timeout)
        store.kept_runs = kept_runs
        try:
            yield store
        finally:
            await store.aclose()

    return open_store


def _sqlite_saver(file: SqliteFile, only: OneProcess) -> CheckpointerFactory:
    """One SQLite file in the data directory holds the checkpoints ..."""

    @contextlib.asynccontextmanager
    async def open_saver() -> AsyncIterator[BaseCheckpointSaver[Any]]:
        async with _acquired(file, only):
            yield file.checkpointer()

    return open_saver


def _sqlite_tasks(file: SqliteFile, only: OneProcess, kept_runs: int | None) -> TaskStoreFactory:
    """... and the tasks with their event logs (one database thread for both)."""

    @contextlib.asynccontextmanager
    async def open_store() -> AsyncIterator[TaskStore]:
        async with _acquired(file, only):
            store = await SqliteTaskStore.on(file)
            store.kept_runs = kept_runs
            yield store

    return open_store


@contextlib.asynccontextmanager
async def _acquired(file: SqliteFile, only: OneProcess) -> AsyncIterator[SqliteFile]:
    with only:  # makes the data directory
        await file.acquire()
        try:
            yield file
        finally:
            await file.release()


def _reachable(url: str, timeout: float) -> None:
    """One connection to the PostgreSQL store, or ``ServeError`` with the
    database's reason (down, unreachable, no such database, refused); a URL
    libpq cannot parse is said without its text (it may hold the password)."""
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ServeError("the PostgreSQL store URL cannot be parsed") from None
    wait: dict[str, Any] = {}
    if "connect_timeout" not in given and "PGCONNECT_TIMEOUT" not in os.environ:
        wait["connect_timeout"] = max(10, math.ceil(timeout))  # libpq's default: none
    try:
        psycopg.connect(url, **wait).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        raise ServeError(f"the PostgreSQL store cannot be used: {reason}") from None


def _alone(only: OneProcess) -> None:
    with only:  # taken and let go: the app takes it again when it starts
        pass


class OneProcess:
    """One serving process per data directory (docs/adr/0011): an exclusive
    ``flock`` on the directory and on its ``graphwire.lock`` (which names the
    holder's pid) while the app serves, shared by the checkpointer and the task
    store. A second process is refused with ``ServeError``; a dead one's lock
    goes with it. The directory's lock holds when the lock file is deleted."""

    def __init__(self, folder: Path) -> None:
        self._path = folder / LOCK_FILE
        self._file: IO[str] | None = None
        self._folder: int | None = None
        self._users = 0

    def __enter__(self) -> None:
        if self._users == 0:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            folder = os.open(self._path.parent, os.O_RDONLY)
            try:
                self._file = self._locked(folder)
            except BaseException:
                os.close(folder)
                raise
            self._folder = folder
        self._users += 1

    def __exit__(self, *exc: object) -> None:
        self._users -= 1
        if self._users == 0 and self._file is not None and self._folder is not None:
            self._file.close()  # unlocks
            os.close(self._folder)
            self._file = self._folder = None

    def _locked(self, folder: int) -> IO[str]:
        file = self._path.open("a+")
        try:
            fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "?"
            file.close()
            raise ServeError(
                f"another graphwire process (pid {holder}) serves {self._path.parent}: one "
                "process per SQLite file; for several, share PostgreSQL (store = 'postgres')"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        return file


def _hosts(bound: str, extra: list[str]) -> list[str] | None:
    """The Host names to answer to: the bound host, loopback, and ``extra``;
    None (any) when ``extra`` holds "*"."""
    if "*" in extra:
        return None
    return [bound, *LOOPBACK_NAMES, *extra]


def _auth_hook(target: str | None) -> AuthHook | None:
    if target is None:
        return None
    module, _, attr = target.rpartition(":")
    try:
        hook = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"auth_hook {target!r} cannot be loaded: {exc}") from exc
    if not callable(hook):
        raise ConfigError(f"auth_hook {target!r} is not callable")
    return hook  # type: ignore[no-any-return]


def reload_app() -> Starlette:
    """uvicorn --reload factory: rebuilds the app from the serve command's arguments."""
    args = json.loads(os.environ[RELOAD_ENV])
    settings = load_settings(cli=args["cli"], config_file=args["config"])
    return build(settings, args["specs"]).app
