"""TaskStore implementations: memory (tests, throwaway) and SQLite (embedded default,
sharing its file and thread with the LangGraph checkpointer)."""

from __future__ import annotations

from graphwire.tasks.stores._base import BaseTaskStore, TaskStore
from graphwire.tasks.stores._sqlite_file import SqliteCheckpointer, SqliteFile
from graphwire.tasks.stores.memory import MemoryTaskStore
from graphwire.tasks.stores.sqlite import SqliteTaskStore

__all__ = [
    "BaseTaskStore",
    "MemoryTaskStore",
    "SqliteCheckpointer",
    "SqliteFile",
    "SqliteTaskStore",
    "TaskStore",
]
