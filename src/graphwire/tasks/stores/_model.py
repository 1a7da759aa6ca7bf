"""The Task model and its state machine, as pure functions over frozen values.

Every store applies the same transitions, atomically, to the row it holds, so
the rules live here once (docs/adr/0005-task-engine.md):

    queued -> ongoing -> review_needed -> done | failed | cancelled
    retry: failed/cancelled -> queued      followup: done/failed/cancelled -> ongoing
    resume: review_needed -> ongoing       cancel: queued/ongoing/review_needed -> cancelled

A task is *runnable* while ``ready_at`` is set and nobody holds its lease; a
claim takes the lease and bumps ``attempt``. Every write a worker makes after
its claim names (owner, attempt): a zombie's late write is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from graphwire.protocol import ErrorCode, GraphwireError, InputError, check_answers


class TaskState(StrEnum):
    QUEUED = "queued"
    ONGOING = "ongoing"
    REVIEW_NEEDED = "review_needed"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


SETTLED = frozenset(
    {TaskState.REVIEW_NEEDED, TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED}
)
"""States in which no run is pending: a task's event stream pauses or ends here."""


class TaskError(GraphwireError):
    """Root of the task engine's errors; ``code`` is the stable wire code."""

    code: ErrorCode = ErrorCode.INVALID_INPUT

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class TaskInputError(TaskError):
    """The task or the action's input is not acceptable."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> None:
        super().__init__(message)
        self.code = code


class TaskNotFoundError(TaskError):
    code = ErrorCode.TASK_NOT_FOUND


class TaskStateError(TaskError):
    """The action is not allowed in the task's current state."""

    code = ErrorCode.TASK_STATE_CONFLICT


class LeaseLostError(TaskError):
    """The writer no longer holds the task's lease (fenced by owner and attempt)."""

    code = ErrorCode.TASK_STATE_CONFLICT


@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    agent: str
    title: str
    prompt: str | None
    thread_id: str
    state: TaskState
    created_at: float
    parent_run_id: str | None = None
    """The run that delegated the task (a foreground run or a parent task's run)."""
    parent_task_id: str | None = None
    parent_thread_id: str | None = None
    principal: str | None = None
    """Who the task belongs to (the auth hook's principal); None without auth."""
    run_ids: tuple[str, ...] = ()
    started_at: float | None = None
    finished_at: float | None = None
    result: str | None = None
    error: Failure | None = None
    interrupts: tuple[dict[str, Any], ...] = ()
    """Open AG-UI interrupts (camelCase JSON) while review is needed."""
    attempt: int = 0
    version: int = 1
    """Bumped by every change of the row; watchers wait for a higher one."""
    input_messages: tuple[dict[str, Any], ...] = ()
    """AG-UI messages the next run sends; their ids are stable, so a rerun
    after a crash does not add them twice."""
    resume: tuple[dict[str, Any], ...] | None = None
    """AG-UI resume entries the next run sends."""
    next_run_id: str | None = None
    """The run id the next run must use (a client's runId, in the handshake)."""
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    ready_at: float | None = None

    @property
    def runnable(self) -> bool:
        """Waiting for a worker: ready and not leased."""
        return self.ready_at is not None and self.lease_owner is None

    def summary(self) -> dict[str, str]:
        """The task in a thread's ``tasks`` summary: id, title, state."""
        return {"id": self.id, "title": self.title, "state": self.state.value}


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What a caller asks for when delegating a task."""

    agent: str
    prompt: str | None = None
    messages: Sequence[Mapping[str, Any]] = ()
    title: str | None = None
    parent_run_id: str | None = None
    parent_task_id: str | None = None
    parent_thread_id: str | None = None
    principal: str | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a task's run ended, as the worker reports it."""

    kind: Literal["done", "review", "failed", "cancelled", "released"]
    result: str | None = None
    interrupts: tuple[dict[str, Any], ...] = ()
    error: Failure | None = None


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Board filters; newest first; ``cursor`` is the page token a page returned."""

    states: frozenset[TaskState] | None = None
    agent: str | None = None
    parent_task_id: str | None = None
    parent_run_id: str | None = None
    parent_thread_id: str | None = None
    principal: str | None = None
    scoped: bool = False
    """Only the tasks of ``principal`` (None included); unscoped: everybody's."""
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class TaskPage:
    tasks: tuple[Task, ...]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One AG-UI event in a task's log: ``frame`` is its JSON text."""

    seq: int
    run_id: str
    frame: str


@dataclass(frozen=True, slots=True)
class Lease:
    """Who writes for a claimed task: every write after the claim names it."""

    owner: str
    attempt: int
    seconds: float = field(default=30.0)


# -- transitions ----------------------------------------------------------------


def new_task(spec: TaskSpec, now: float) -> Task:
    """A queued task for ``spec``; a blank prompt with no messages is an error."""
    prompt = (spec.prompt or "").strip()
    if not prompt and not spec.messages:
        raise TaskInputError("a task needs a non-blank prompt or messages")
    task_id = str(uuid.uuid4())
    messages = tuple(dict(m) for m in spec.messages) or (
        {"id": f"{task_id}-prompt", "role": "user", "content": prompt},
    )
    return Task(
        id=task_id,
        agent=spec.agent,
        title=(spec.title or "").strip() or _title_of(prompt or _text_of(messages)),
        prompt=prompt or None,
        thread_id=task_id,
        state=TaskState.QUEUED,
        created_at=now,
        parent_run_id=spec.parent_run_id,
        parent_task_id=spec.parent_task_id,
        parent_thread_id=spec.parent_thread_id,
        principal=spec.principal,
        input_messages=messages,
        ready_at=now,
    )


def _title_of(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "task"
    return line if len(line) <= 80 else line[:79] + "…"


def _text_of(messages: Sequence[Mapping[str, Any]]) -> str:
    contents = [m.get("content") for m in messages]
    return next((c for c in reversed(contents) if isinstance(c, str) and c.strip()), "")


def claim(task: Task, lease: Lease, run_id: str, now: float) -> Task:
    if not task.runnable:
        raise TaskStateError(f"task {task.id} is not runnable", state=task.state)
    return _bump(
        task,
        state=TaskState.ONGOING,
        attempt=lease.attempt,
        lease_owner=lease.owner,
        lease_expires_at=now + lease.seconds,
        run_ids=(*task.run_ids, task.next_run_id or run_id),
        next_run_id=None,
        started_at=task.started_at or now,
        ready_at=None,
    )


def check_lease(task: Task, lease: Lease) -> None:
    if task.lease_owner != lease.owner or task.attempt != lease.attempt:
        raise LeaseLostError(f"lease on task {task.id} attempt {lease.attempt} is lost")


def renew(task: Task, lease: Lease, now: float) -> Task:
    check_lease(task, lease)
    return replace(task, lease_expires_at=now + lease.seconds)


def settle(task: Task, lease: Lease, outcome: RunOutcome, now: float) -> Task:
    """The run ended: map its outcome onto the board, unless it was cancelled first."""
    check_lease(task, lease)
    released = {"lease_owner": None, "lease_expires_at": None}
    if task.state is TaskState.CANCELLED:
        return _bump(task, **released)
    if outcome.kind == "released":
        return _bump(task, ready_at=now, **released)
    state, fields = _settled_fields(outcome)
    return _bump(task, state=state, finished_at=_finish_time(state, now), **fields, **released)


def _settled_fields(outcome: RunOutcome) -> tuple[TaskState, dict[str, Any]]:
    # A run that finished or waits for review holds its input in the thread now:
    # the row does not keep it (it would grow with every follow-up).
    ran: dict[str, Any] = {"input_messages": ()}
    if outcome.kind == "done":
        return TaskState.DONE, {"result": outcome.result, "error": None, "interrupts": (), **ran}
    if outcome.kind == "review":
        return TaskState.REVIEW_NEEDED, {"interrupts": outcome.interrupts, "resume": None, **ran}
    if outcome.kind == "failed":
        return TaskState.FAILED, {"error": outcome.error}
    return TaskState.CANCELLED, {}


def _finish_time(state: TaskState, now: float) -> float | None:
    return now if state in {TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED} else None


def cancel(task: Task, now: float) -> Task:
    """Cancel; a worker still holding the lease stops its run and settles later."""
    _require(task, "cancel", {TaskState.QUEUED, TaskState.ONGOING, TaskState.REVIEW_NEEDED})
    return _bump(task, state=TaskState.CANCELLED, ready_at=None, finished_at=now)


def retry(task: Task, now: float) -> Task:
    """Queue again; the next run continues from the thread's last checkpoint."""
    _require(task, "retry", {TaskState.FAILED, TaskState.CANCELLED})
    return _bump(task, state=TaskState.QUEUED, ready_at=now, finished_at=None, error=None)


def followup(task: Task, message: str, now: float, run_id: str | None = None) -> Task:
    """Continue the same thread with a new user message (in run ``run_id``, if given)."""
    _require(task, "followup", {TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED})
    if not message.strip():
        raise TaskInputError("a followup needs a non-blank message")
    msg = {"id": f"{task.id}-followup-{len(task.run_ids)}", "role": "user", "content": message}
    return _bump(
        task,
        state=TaskState.ONGOING,
        ready_at=now,
        finished_at=None,
        result=None,
        error=None,
        # Input not yet run stays (a prompt cancelled while queued still arrives;
        # ids the thread already holds are not sent twice).
        input_messages=(*task.input_messages, msg),
        resume=None,
        next_run_id=_new_run_id(task, run_id),
    )


def resume(
    task: Task, entries: Sequence[Mapping[str, Any]], now: float, run_id: str | None = None
) -> Task:
    """Answer the open interrupts (every one, each once) and run on (in ``run_id``)."""
    _require(task, "resume", {TaskState.REVIEW_NEEDED})
    _check_answers(task, [str(e.get("interruptId")) for e in entries])
    return _bump(
        task,
        state=TaskState.ONGOING,
        ready_at=now,
        input_messages=(),
        resume=tuple(dict(e) for e in entries),
        interrupts=(),
        next_run_id=_new_run_id(task, run_id),
    )


def _new_run_id(task: Task, run_id: str | None) -> str | None:
    if run_id is not None and run_id in task.run_ids:
        raise TaskInputError(f"run {run_id!r} already exists on task {task.id}")
    return run_id


def _check_answers(task: Task, answered: list[str]) -> None:
    try:
        check_answers(answered, [str(i.get("id")) for i in task.interrupts])
    except InputError as exc:
        raise TaskInputError(f"task {task.id}: {exc.message}", exc.code) from exc


def expire(task: Task, now: float) -> Task:
    """The lease holder is gone: release the lease; an ongoing task is queued again."""
    released = {"lease_owner": None, "lease_expires_at": None}
    if task.state is TaskState.ONGOING:
        return _bump(task, state=TaskState.QUEUED, ready_at=now, **released)
    return _bump(task, **released)


def _require(task: Task, action: str, allowed: set[TaskState]) -> None:
    if task.state not in allowed:
        raise TaskStateError(
            f"cannot {action} task {task.id}: it is {task.state.value}",
            state=task.state.value,
            action=action,
        )
    if task.lease_owner is not None and task.state is not TaskState.ONGOING and action != "cancel":
        raise TaskStateError(
            f"cannot {action} task {task.id}: its last run is still stopping",
            state=task.state.value,
            action=action,
        )


def _bump(task: Task, **changes: Any) -> Task:
    return replace(task, version=task.version + 1, **changes)
