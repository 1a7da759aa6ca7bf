"""graphwire: an AG-UI 1.0 protocol server for LangGraph agents."""

from __future__ import annotations

from graphwire.protocol import (
    AguiMapper,
    ErrorCode,
    GraphwireError,
    InputError,
    MapperOptions,
    RunInfo,
    StoreUnavailableError,
    StreamParser,
    bind_frontend_tools,
    cancelled_resume,
    frontend_tools,
    is_cancelled_resume,
)
from graphwire.runs import GraphRun, RunOptions
from graphwire.tasks import (
    MemoryTaskStore,
    RunnerOptions,
    SqliteFile,
    SqliteTaskStore,
    Task,
    TaskError,
    TaskRunner,
    TaskSpec,
    TaskState,
    TaskStore,
    task_tools,
)

__all__ = [
    "AguiMapper",
    "ErrorCode",
    "GraphRun",
    "GraphwireError",
    "InputError",
    "MapperOptions",
    "MemoryTaskStore",
    "RunInfo",
    "RunOptions",
    "RunnerOptions",
    "SqliteFile",
    "SqliteTaskStore",
    "StoreUnavailableError",
    "StreamParser",
    "Task",
    "TaskError",
    "TaskRunner",
    "TaskSpec",
    "TaskState",
    "TaskStore",
    "bind_frontend_tools",
    "cancelled_resume",
    "frontend_tools",
    "is_cancelled_resume",
    "task_tools",
]
