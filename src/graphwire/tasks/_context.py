"""What a run's task tools need to reach the runner: passed in the graph's config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from graphwire.tasks._runner import TaskRunner

TASKS_CONFIG_KEY: Final = "__graphwire_tasks"
"""``config["configurable"][TASKS_CONFIG_KEY]`` holds the run's ``TaskContext``
(dunder-prefixed: LangGraph keeps such keys out of checkpoint metadata)."""


@dataclass(frozen=True, slots=True)
class TaskContext:
    """The runner, and who is delegating: the agent, its run and thread, its task."""

    runner: TaskRunner
    agent: str
    run_id: str
    thread_id: str
    task_id: str | None = None
    principal: str | None = None
