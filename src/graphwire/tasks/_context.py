"""What a run's task tools need to reach the runner: passed in the graph's config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from graphwire.tasks._runner import TaskRunner
    from graphwire.tasks.stores._model import Task

TASKS_CONFIG_KEY: Final = "__graphwire_tasks"
"""``config["configurable"][TASKS_CONFIG_KEY]`` holds the run's ``TaskContext``
(dunder-prefixed: LangGraph keeps such keys out of checkpoint metadata)."""


TASKS_STATE_KEY: Final = "tasks"
"""A graph whose state declares this key gets a summary of the thread's tasks in it."""


@dataclass(frozen=True, slots=True)
class TaskContext:
    """The runner, and who is delegating: the agent, its run and thread, its task."""

    runner: TaskRunner
    agent: str
    run_id: str
    thread_id: str
    task_id: str | None = None
    principal: str | None = None
    tasks_key: bool = False
    """The graph's state declares ``tasks``: the tools keep a summary there."""
    on_started: Callable[[Task], None] | None = None
    """Told of every task this run starts (the server shows it as an AG-UI activity)."""
