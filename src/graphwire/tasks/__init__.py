"""The delegation engine: durable background tasks, each run an AG-UI run.

``TaskRunner`` claims tasks from a ``TaskStore`` and runs them with the same
run machinery as foreground runs; task tools let an agent delegate to copies
of itself (docs/adr/0005-task-engine.md).
"""

from __future__ import annotations

from graphwire.tasks._context import TASKS_CONFIG_KEY, TASKS_STATE_KEY, TaskContext
from graphwire.tasks._runner import RunnerOptions, TaskRunner
from graphwire.tasks._tools import (
    cancel_async_task,
    check_async_task,
    list_async_tasks,
    start_async_task,
    task_tools,
    update_async_task,
)
from graphwire.tasks.stores import (
    BaseTaskStore,
    DurableTaskStore,
    MemoryTaskStore,
    PostgresTaskStore,
    SqliteCheckpointer,
    SqliteFile,
    SqliteTaskStore,
    TaskStore,
    postgres_checkpointer,
)
from graphwire.tasks.stores._model import (
    SETTLED,
    Failure,
    Lease,
    LeaseLostError,
    RunOutcome,
    Task,
    TaskError,
    TaskEvent,
    TaskInputError,
    TaskNotFoundError,
    TaskPage,
    TaskQuery,
    TaskSpec,
    TaskState,
    TaskStateError,
)

__all__ = [
    "SETTLED",
    "TASKS_CONFIG_KEY",
    "TASKS_STATE_KEY",
    "BaseTaskStore",
    "DurableTaskStore",
    "Failure",
    "Lease",
    "LeaseLostError",
    "MemoryTaskStore",
    "PostgresTaskStore",
    "RunOutcome",
    "RunnerOptions",
    "SqliteCheckpointer",
    "SqliteFile",
    "SqliteTaskStore",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskEvent",
    "TaskInputError",
    "TaskNotFoundError",
    "TaskPage",
    "TaskQuery",
    "TaskRunner",
    "TaskSpec",
    "TaskState",
    "TaskStateError",
    "TaskStore",
    "cancel_async_task",
    "check_async_task",
    "list_async_tasks",
    "postgres_checkpointer",
    "start_async_task",
    "task_tools",
    "update_async_task",
]
