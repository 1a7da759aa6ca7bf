"""graphwire: an AG-UI 1.0 protocol server for LangGraph agents.

What an application embeds is here: the app factory and its options, the agent
record, the task engine with its stores and the tools agents delegate with,
the helpers agents use for frontend tools and interrupts, the errors, and the
testing fakes. The protocol mapping lives in ``graphwire.protocol``, one run's
machinery in ``graphwire.runs``.
"""

from __future__ import annotations

from graphwire.host import ConfigError, SpecError
from graphwire.protocol import (
    ErrorCode,
    GraphwireError,
    InputError,
    StoreUnavailableError,
    bind_frontend_tools,
    cancelled_resume,
    frontend_tools,
    is_cancelled_resume,
)
from graphwire.server import Agent, ServerOptions, create_app
from graphwire.tasks import (
    MemoryTaskStore,
    PostgresTaskStore,
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
from graphwire.testing import ScriptedChatModel

__all__ = [
    "Agent",
    "ConfigError",
    "ErrorCode",
    "GraphwireError",
    "InputError",
    "MemoryTaskStore",
    "PostgresTaskStore",
    "RunnerOptions",
    "ScriptedChatModel",
    "ServerOptions",
    "SpecError",
    "SqliteFile",
    "SqliteTaskStore",
    "StoreUnavailableError",
    "Task",
    "TaskError",
    "TaskRunner",
    "TaskSpec",
    "TaskState",
    "TaskStore",
    "bind_frontend_tools",
    "cancelled_resume",
    "create_app",
    "frontend_tools",
    "is_cancelled_resume",
    "task_tools",
]
