"""TaskStore implementations: memory (tests, throwaway), SQLite (embedded default,
sharing its file and thread with the LangGraph checkpointer) and PostgreSQL
(many processes on many hosts)."""

from __future__ import annotations

from graphwire.tasks.stores._base import BaseTaskStore, DurableTaskStore, TaskStore
from graphwire.tasks.stores._sqlite_file import SqliteCheckpointer, SqliteFile
from graphwire.tasks.stores.memory import MemoryTaskStore
from graphwire.tasks.stores.postgres import PostgresTaskStore, postgres_checkpointer
from graphwire.tasks.stores.sqlite import SqliteTaskStore

__all__ = [
    "BaseTaskStore",
    "DurableTaskStore",
    "MemoryTaskStore",
    "PostgresTaskStore",
    "SqliteCheckpointer",
    "SqliteFile",
    "SqliteTaskStore",
    "TaskStore",
    "postgres_checkpointer",
]
