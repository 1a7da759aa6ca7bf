"""Delegated tasks over HTTP, in camelCase JSON like AG-UI: create, the board,
one task, cancel / retry / followup, and each task's AG-UI runs as SSE.

Every task belongs to the principal the auth hook returned when it was
created; another principal gets 404, as for threads and runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from ag_ui.core import Message, RunAgentInput
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graphwire.protocol import AguiMapper, RunInfo
from graphwire.runs import RunLog, read_thread, thread_key
from graphwire.server._bodies import BodyLimits, checked_id, last_event_id, read_model
from graphwire.server._errors import ApiError
from graphwire.server._sse import EventStream, RunLogSource, TaskLogSource
from graphwire.server._state import served_agents, task_runner
from graphwire.tasks import (
    TASKS_STATE_KEY,
    Task,
    TaskError,
    TaskInputError,
    TaskNotFoundError,
    TaskQuery,
    TaskRunner,
    TaskSpec,
    TaskState,
    TaskStateError,
)

_CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
MAX_PAGE = 200


class NewTask(BaseModel):
    """POST /agents/{name}/tasks."""

    model_config = _CAMEL
    title: str | None = None
    prompt: str | None = None
    messages: list[Message] | None = None
    parent_run_id: str | None = None
    parent_task_id: str | None = None


class Followup(BaseModel):
    """POST /tasks/{taskId}/followup."""

    model_config = _CAMEL
    message: str = Field(min_length=1)


class ErrorView(BaseModel):
    model_config = _CAMEL
    code: str
    message: str


class TaskView(BaseModel):
    """A task as clients see it."""

    model_config = _CAMEL
    task_id: str
    agent: str
    title: str
    prompt: str | None
    thread_id: str
    state: TaskState
    parent_run_id: str | None
    parent_task_id: str | None
    parent_thread_id: str | None
    run_ids: list[str]
    attempt: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    result: str | None
    error: ErrorView | None
    interrupts: list[dict[str, Any]]
    events_url: str


def task_view(task: Task, base_url: str) -> dict[str, Any]:
    error = task.error
    return TaskView(
        task_id=task.id,
        agent=task.agent,
        title=task.title,
        prompt=task.prompt,
        thread_id=task.thread_id,
        state=task.state,
        parent_run_id=task.parent_run_id,
        parent_task_id=task.parent_task_id,
        parent_thread_id=task.parent_thread_id,
        run_ids=list(task.run_ids),
        attempt=task.attempt,
        created_at=_iso(task.created_at),
        started_at=_iso(task.started_at),
        finished_at=_iso(task.finished_at),
        result=task.result,
        error=ErrorView(code=error.code, message=error.message) if error else None,
        interrupts=list(task.interrupts),
        events_url=events_url(base_url, task.id),
    ).model_dump(mode="json", by_alias=True)


def events_url(base_url: str, task_id: str) -> str:
    return f"{base_url.rstrip('/')}{task_events_path(task_id)}"


def task_events_path(task_id: str) -> str:
    return f"/tasks/{task_id}/events"


def _iso(stamp: float | None) -> Any:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")


@contextlib.contextmanager
def task_errors() -> Iterator[None]:
    """Task engine errors as HTTP errors: 404, 409 naming the state, 422."""
    try:
        yield
    except TaskNotFoundError as exc:
        raise ApiError(404, exc.code, exc.message) from exc
    except TaskStateError as exc:
        raise ApiError(409, state_code(exc), exc.message, exc.details) from exc
    except TaskError as exc:
        raise ApiError(422, exc.code, exc.message) from exc


class TaskRoutes:
    """The task routes' handlers; the runner exists once the app has started."""

    def __init__(
        self,
        agent_name: Callable[[Request], str],
        body_limits: BodyLimits,
        stream: Callable[..., EventStream],
    ) -> None:
        self._agent_name = agent_name
        self._body_limits = body_limits
        self._stream = stream

    @staticmethod
    def _require(request: Request) -> TaskRunner:
        runner = task_runner(request)
        if runner is None:
            raise ApiError(503, "TASKS_UNAVAILABLE", "this server runs no task engine")
        return runner

    async def owned(self, request: Request, task_id: str) -> Task:
        """The task, if the caller's principal owns it (else 404)."""
        checked_id(task_id, "taskId")
        with task_errors():
            task = await self._require(request).get(task_id)
        if task.principal != request.state.principal:
            raise ApiError(404, "TASK_NOT_FOUND", f"no task {task_id!r}")
        return task

    async def create(self, request: Request) -> Response:
        agent = self._agent_name(request)
        body = await read_model(request, NewTask, self._body_limits)
        principal = request.state.principal
        if body.parent_run_id is not None:
            checked_id(body.parent_run_id, "parentRunId")
        if body.parent_task_id is not None:
            await self.owned(request, body.parent_task_id)
        spec = TaskSpec(
            agent=agent,
            prompt=body.prompt,
            messages=[m.model_dump(mode="json", by_alias=True) for m in body.messages or ()],
            title=body.title,
            parent_run_id=body.parent_run_id,
            parent_task_id=body.parent_task_id,
            principal=principal,
        )
        with task_errors():
            task = await self._require(request).enqueue(spec)
        return JSONResponse(task_view(task, str(request.base_url)), status_code=201)

    async def board(self, request: Request) -> Response:
        query = _board_query(request)
        with task_errors():
            page = await self._require(request).list_tasks(query)
        base = str(request.base_url)
        return JSONResponse(
            {"tasks": [task_view(t, base) for t in page.tasks], "nextCursor": page.next_cursor}
        )

    async def one(self, request: Request) -> Response:
        task = await self.owned(request, request.path_params["task_id"])
        query = TaskQuery(
            parent_task_id=task.id,
            principal=request.state.principal,
            scoped=True,
            limit=MAX_PAGE,
        )
        children = await self._require(request).list_tasks(query)
        base = str(request.base_url)
        return JSONResponse(
            {**task_view(task, base), "children": [task_view(c, base) for c in children.tasks]}
        )

    async def cancel(self, request: Request) -> Response:
        task = await self.owned(request, request.path_params["task_id"])
        with task_errors():
            task = await self._require(request).cancel(task.id)
        return JSONResponse(task_view(task, str(request.base_url)))

    async def retry(self, request: Request) -> Response:
        task = await self.owned(request, request.path_params["task_id"])
        with task_errors():
            task = await self._require(request).retry(task.id)
        return JSONResponse(task_view(task, str(request.base_url)))

    async def followup(self, request: Request) -> Response:
        task = await self.owned(request, request.path_params["task_id"])
        body = await read_model(request, Followup, self._body_limits)
        with task_errors():
            task = await self._require(request).followup(task.id, body.message)
        return JSONResponse(task_view(task, str(request.base_url)))

    async def events(self, request: Request) -> EventStream:
        task = await self.owned(request, request.path_params["task_id"])
        after = last_event_id(request)
        source = TaskLogSource(self._require(request).store, task.id)
        run_id = task.run_ids[-1] if task.run_ids else ""
        return self._stream(source, after, None, run_id, task_events_path(task.id))

    async def handshake(
        self, request: Request, agent: str, run: RunAgentInput
    ) -> EventStream | None:
        """A run on a task's thread continues the task (None: not a task's thread).

        With ``resume`` it answers the task's interrupts; with a new user message
        it follows up. The caller gets the task's next run as it is logged; the
        run is background work, so a dropped caller does not stop it.
        """
        task = await self._task_of_thread(request, run.thread_id)
        if task is None:
            return None
        if task.agent != agent:
            raise ApiError(
                409, "TASK_AGENT_MISMATCH", f"thread {task.thread_id!r} is a task of {task.agent!r}"
            )
        runner = self._require(request)
        after = await runner.store.last_seq(task.id)
        try:
            if run.resume:
                await _check_resume_messages(request, task, run)
            await self._continue(runner, task, run)
        except TaskError as exc:
            return self._stream(_failed_run(run, _run_error_code(exc), exc.message), 0, None, "")
        source = TaskLogSource(runner.store, task.id)
        return self._stream(source, after, None, run.run_id, task_events_path(task.id))

    async def describe_thread(self, request: Request, body: dict[str, Any]) -> None:
        """Add to a thread's description: the task it belongs to (a reloaded page
        sees where the task is), and a live ``tasks`` summary where the state has one."""
        task = await self._task_of_thread(request, body["threadId"])
        if task is not None:
            body["task"] = task_view(task, str(request.base_url))
        state = body["state"]
        if isinstance(state, dict) and TASKS_STATE_KEY in state:
            runner = self._require(request)
            state[TASKS_STATE_KEY] = await runner.thread_summary(
                body["threadId"], request.state.principal
            )

    async def _task_of_thread(self, request: Request, thread_id: str) -> Task | None:
        runner = task_runner(request)
        if runner is None:
            return None
        try:
            task = await runner.get(thread_id)  # a task's thread id is its task id
        except TaskNotFoundError:
            return None
        return task if task.principal == request.state.principal else None

    @staticmethod
    async def _continue(runner: TaskRunner, task: Task, run: RunAgentInput) -> None:
        if run.resume:
            entries = [e.model_dump(mode="json", by_alias=True) for e in run.resume]
            await runner.resume(task.id, entries, run_id=run.run_id)
            return
        last = run.messages[-1] if run.messages else None
        text = getattr(last, "content", None) if last is not None else None
        if last is None or last.role != "user" or not isinstance(text, str):
            raise TaskInputError(
                "a run on a task's thread answers its interrupts (resume) "
                "or brings a new user message"
            )
        await runner.followup(task.id, text, run_id=run.run_id)


async def _check_resume_messages(request: Request, task: Task, run: RunAgentInput) -> None:
    """A resume on a task's thread carries its history as the client has it
    (messages the thread holds are not taken again); a new user message there
    would be dropped, so it is refused: a follow-up of its own."""
    graph = served_agents(request)[task.agent].graph
    held = await read_thread(graph, thread_key(task.principal, task.thread_id))
    ids = {m.id for m in held.messages}
    asked = [m.id for m in run.messages if m.role == "user" and m.id not in ids]
    if asked:
        raise TaskInputError(
            f"a resume cannot carry new user messages {asked}: send them in the next run"
        )


def state_code(exc: TaskStateError) -> str:
    """The stable code naming the state that refused the action: TASK_DONE, ..."""
    return f"TASK_{str(exc.details.get('state', 'unknown')).upper()}"


def _run_error_code(exc: TaskError) -> str:
    return state_code(exc) if isinstance(exc, TaskStateError) else str(exc.code)


def _failed_run(run: RunAgentInput, code: str, message: str) -> RunLogSource:
    """A run that fails at once: RUN_STARTED, then RUN_ERROR with ``code``."""
    log = RunLog()
    mapper = AguiMapper(RunInfo(run.thread_id, run.run_id, run.parent_run_id))
    for event in mapper.fail(code, message):
        log.put(event)
    return RunLogSource(log)


def _board_query(request: Request) -> TaskQuery:
    params = request.query_params
    try:
        states = frozenset(
            TaskState(s) for raw in params.getlist("state") for s in raw.split(",") if s
        )
        limit = int(params.get("limit", 50))
    except ValueError as exc:
        raise ApiError(422, "INVALID_INPUT", f"bad board filter: {exc}") from exc
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError(422, "INVALID_INPUT", f"limit must be 1 to {MAX_PAGE}")
    return TaskQuery(
        states=states or None,
        agent=params.get("agent"),
        parent_task_id=params.get("parent"),
        parent_run_id=params.get("parentRun"),
        parent_thread_id=params.get("parentThread"),
        principal=request.state.principal,
        scoped=True,
        limit=limit,
        cursor=params.get("cursor"),
    )
