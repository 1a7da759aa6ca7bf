"""Task tools an agent can be given: delegate to a copy of itself (or another
served agent) and follow the work.

Names, argument names and result texts follow deepagents' async-subagent tools
(start/check/update/cancel/list_async_task[s]), so prompts written for those
work unchanged. The tools find the runner in the run's config
(``TaskContext``); outside a runner they say so instead of failing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langgraph.types import Command

from graphwire.tasks._context import TASKS_CONFIG_KEY, TASKS_STATE_KEY, TaskContext
from graphwire.tasks.stores._model import Task, TaskError, TaskQuery, TaskSpec, TaskState

NO_RUNNER = (
    "Task tools are not available here: this run is not attached to a graphwire task "
    "runner (serve the agent with `graphwire serve`, or run it under a TaskRunner)."
)
STATUS: dict[TaskState, str] = {
    TaskState.QUEUED: "pending",
    TaskState.ONGOING: "running",
    TaskState.REVIEW_NEEDED: "interrupted",
    TaskState.DONE: "success",
    TaskState.FAILED: "error",
    TaskState.CANCELLED: "cancelled",
}
"""Board state -> the run status names deepagents' tools report."""
_FILTERS: dict[str, frozenset[TaskState] | None] = {
    "all": None,
    "running": frozenset({TaskState.QUEUED, TaskState.ONGOING}),
    "pending": frozenset({TaskState.QUEUED}),
    "interrupted": frozenset({TaskState.REVIEW_NEEDED}),
    "success": frozenset({TaskState.DONE}),
    "error": frozenset({TaskState.FAILED}),
    "cancelled": frozenset({TaskState.CANCELLED}),
}
StatusFilter = Literal["running", "pending", "interrupted", "success", "error", "cancelled", "all"]
_SETTLE_SECONDS = 30.0


def _context(config: RunnableConfig) -> TaskContext | None:
    found = (config.get("configurable") or {}).get(TASKS_CONFIG_KEY)
    return found if isinstance(found, TaskContext) else None


@tool
async def start_async_task(
    description: str,
    config: RunnableConfig,
    tool_call_id: Annotated[str, InjectedToolCallId],
    subagent_type: str | None = None,
) -> str | Command[Any]:
    """Start a background task: a copy of this agent (or the agent named by
    `subagent_type`) works on `description` and the task id comes back at once.
    Report the task id to the user and stop; check on it only when asked."""
    ctx = _context(config)
    if ctx is None:
        return NO_RUNNER
    agent = subagent_type or ctx.agent
    if agent not in ctx.runner.agents:
        allowed = ", ".join(f"`{a}`" for a in ctx.runner.agents)
        return f"Unknown async subagent type `{agent}`. Available types: {allowed}"
    spec = TaskSpec(
        agent=agent,
        prompt=description,
        parent_run_id=ctx.run_id,
        parent_task_id=ctx.task_id,
        parent_thread_id=ctx.thread_id,
        principal=ctx.principal,
    )
    try:
        task = await ctx.runner.enqueue(spec)
    except TaskError as exc:
        return f"Failed to launch async subagent '{agent}': {exc.message}"
    if ctx.on_started is not None:
        ctx.on_started(task)
    text = f"Launched async subagent. task_id: {task.id}"
    if not ctx.tasks_key:
        return text
    message = ToolMessage(text, tool_call_id=tool_call_id, name="start_async_task")
    summary = await ctx.runner.thread_summary(ctx.thread_id, ctx.principal)
    return Command(update={"messages": [message], TASKS_STATE_KEY: summary})


@tool
async def check_async_task(task_id: str, config: RunnableConfig) -> str:
    """Check a background task: its status and, once it finished, its result."""
    found = await _lookup(config, task_id)
    if isinstance(found, str):
        return found
    return json.dumps(_check_result(found[1]))


async def _lookup(config: RunnableConfig, task_id: str) -> tuple[TaskContext, Task] | str:
    """The runner's context and the task (if it belongs to the caller's
    principal), or the sentence that says why not."""
    ctx = _context(config)
    if ctx is None:
        return NO_RUNNER
    try:
        task = await ctx.runner.get(task_id.strip())
    except TaskError:
        task = None
    if task is None or task.principal != ctx.principal:
        return f"No tracked task found for task_id: {task_id!r}"
    return ctx, task


def _check_result(task: Task) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": STATUS[task.state],
        "thread_id": task.thread_id,
        "task_id": task.id,
        "title": task.title,
        "state": task.state.value,
    }
    if task.state is TaskState.DONE:
        result["result"] = task.result or "(completed with no output messages)"
    elif task.state is TaskState.FAILED and task.error is not None:
        result["error"] = f"{task.error.code}: {task.error.message}"
    elif task.state is TaskState.REVIEW_NEEDED:
        result["interrupts"] = list(task.interrupts)
    return result


@tool
async def update_async_task(task_id: str, message: str, config: RunnableConfig) -> str:
    """Send new instructions to a background task. A running task stops its
    current run and continues on the same thread with your message."""
    found = await _lookup(config, task_id)
    if isinstance(found, str):
        return found
    ctx, task = found
    try:
        if task.state is TaskState.REVIEW_NEEDED:
            return f"Task {task.id} is waiting for human review; answer the review first."
        if task.state in {TaskState.QUEUED, TaskState.ONGOING}:
            await ctx.runner.store.cancel(task.id)
        await ctx.runner.wait_settled(task.id, _SETTLE_SECONDS)
        await ctx.runner.followup(task.id, message)
    except TaskError as exc:
        return f"Failed to update async subagent: {exc.message}"
    except TimeoutError:
        return f"Failed to update async subagent: task {task_id} did not stop in time."
    return f"Updated async subagent. task_id: {task.id}"


@tool
async def cancel_async_task(task_id: str, config: RunnableConfig) -> str:
    """Cancel a background task (and the tasks it delegated)."""
    found = await _lookup(config, task_id)
    if isinstance(found, str):
        return found
    ctx, owned = found
    try:
        task = await ctx.runner.cancel(owned.id)
    except TaskError as exc:
        return f"Failed to cancel task {task_id}: {exc.message}"
    return f"Cancelled async subagent task: {task.id}"


@tool
async def list_async_tasks(
    config: RunnableConfig, status_filter: StatusFilter | None = None
) -> str:
    """List the background tasks started from this conversation, with live statuses."""
    ctx = _context(config)
    if ctx is None:
        return NO_RUNNER
    query = TaskQuery(
        parent_thread_id=ctx.thread_id,
        states=_FILTERS[status_filter or "all"],
        principal=ctx.principal,
        scoped=True,
        limit=100,
    )
    page = await ctx.runner.list_tasks(query)
    if not page.tasks:
        return "No async subagent tasks tracked."
    entries = [
        f"- task_id: {t.id}  agent: {t.agent}  status: {STATUS[t.state]}  title: {t.title}"
        for t in page.tasks
    ]
    return f"{len(entries)} tracked task(s):\n" + "\n".join(entries)


def task_tools() -> list[BaseTool]:
    """The five task tools, for an agent's tool list."""
    return [
        start_async_task,
        check_async_task,
        update_async_task,
        cancel_async_task,
        list_async_tasks,
    ]
