"""The Starlette application: AG-UI runs over SSE, discovery, threads, runs."""

from __future__ import annotations

import contextlib
import hmac
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from ag_ui.core import (
    AgentCapabilities,
    HumanInTheLoopCapabilities,
    IdentityCapabilities,
    ReasoningCapabilities,
    RunAgentInput,
    StateCapabilities,
    ToolsCapabilities,
    TransportCapabilities,
)
from langgraph.checkpoint.base import BaseCheckpointSaver
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from graphwire.protocol import (
    DEFAULT_HIDDEN_KEYS,
    ErrorCode,
    InputError,
    InterruptChannel,
    InterruptRaised,
    MapperOptions,
    StoreUnavailableError,
    to_agui_interrupt,
    to_agui_messages,
    visible_state,
)
from graphwire.runs import (
    Deadline,
    OnDisconnect,
    RunEndedError,
    RunExistsError,
    RunExpiredError,
    RunLog,
    RunNotFoundError,
    RunOptions,
    RunRegistry,
    ThreadBusyError,
    agent_of,
    breakpoint_of,
    check_agent,
    check_input,
    check_values,
    thread_key,
)
from graphwire.server._activity import TaskActivity
from graphwire.server._agents import Agent, with_checkpointer
from graphwire.server._bodies import (
    BodyLimits,
    check_run_ids,
    checked_id,
    last_event_id,
    read_model,
)
from graphwire.server._errors import ApiError
from graphwire.server._hosts import TrustedHosts
from graphwire.server._sse import EventStream, LogSource, RunLogSource
from graphwire.server._state import (
    STATE_AGENTS,
    STATE_PROBES,
    STATE_TASKS,
    readiness_probes,
    served_agents,
    task_runner,
)
from graphwire.server._tasks_api import TaskRoutes, events_url
from graphwire.tasks import RunnerOptions, TaskRunner, TaskStore

logger = logging.getLogger("graphwire.server")
Reply = Response | EventStream
AuthHook = Callable[[Request], "str | Awaitable[str | None] | None"]


@runtime_checkable
class _Probed(Protocol):
    """A checkpointer that can say whether its database can be used now."""

    async def probe(self) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerOptions:
    """What the app needs from the settings (plain values, no I/O)."""

    keepalive_seconds: float = 15.0
    send_timeout_seconds: float = 30.0
    flush_interval_ms: float = 16.0
    max_body_bytes: int = 10 * 1024 * 1024
    body_timeout_seconds: float = 30.0
    """The longest a request body may take to arrive (408 ``BODY_TIMEOUT``)."""
    api_key: str | None = None
    cors_origins: Sequence[str] = ()
    allowed_hosts: Sequence[str] | None = None
    """Host header names the server answers to (no port); None: any. ``graphwire
    serve`` sets the bound host and the loopback names unless told otherwise."""
    auth_hook: AuthHook | None = None
    on_disconnect: OnDisconnect = "cancel"
    interrupt_channel: InterruptChannel = "standard"
    """Where interrupts go for agents that do not choose (``Agent.interrupt_channel``)."""
    retained_run_bytes: int = 128 * 1024 * 1024
    """Ended runs' logs kept for re-attach, in characters of events (newest first;
    an older run's events answer 410 ``RUN_EXPIRED``)."""
    tasks: RunnerOptions = field(default_factory=RunnerOptions)
    close_seconds: float = 5.0
    """The longest the app's shutdown takes: stopping runs and task workers,
    the store taking their last events, releasing claims. What is left then is
    left as a crash leaves it, and logged (``graphwire serve`` gives it half of
    ``shutdown_grace_seconds``, open connections the other half)."""


CheckpointerFactory = Callable[[], contextlib.AbstractAsyncContextManager[BaseCheckpointSaver[Any]]]
TaskStoreFactory = Callable[[], contextlib.AbstractAsyncContextManager[TaskStore]]


def create_app(
    agents: Sequence[Agent],
    options: ServerOptions | None = None,
    checkpointer: CheckpointerFactory | None = None,
    tasks: TaskStoreFactory | None = None,
) -> Starlette:
    """An ASGI app serving ``agents``.

    A graph compiled without a checkpointer is served from a copy that uses the
    one ``checkpointer`` opens when the app starts; the user's graph is untouched.
    With a ``tasks`` store, a TaskRunner runs the agents' delegated tasks and
    every run's task tools reach it.
    """
    options = options or ServerOptions()
    registry = RunRegistry(retention_bytes=options.retained_run_bytes)
    api = _Api(options, registry)

    @contextlib.asynccontextmanager
    async def span(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        """What the app serves once started, as Starlette's lifespan state: every
        request finds it in ``request.state``."""
        closing = Deadline(options.close_seconds)
        async with contextlib.AsyncExitStack() as stack:
            served = {a.name: a for a in agents}
            probes: list[Callable[[], Awaitable[None]]] = []
            if checkpointer is not None:
                saver = await stack.enter_async_context(checkpointer())
                if isinstance(saver, _Probed):  # a pool of its own (PostgreSQL)
                    probes.append(saver.probe)
                served = {
                    name: replace(a, graph=with_checkpointer(a.graph, saver))
                    for name, a in served.items()
                }
            runner = None
            if tasks is not None:
                runner = await _start_tasks(
                    stack, tasks(), registry, served, options, closing=closing
                )
                probes.append(runner.store.probe)
            try:
                yield {STATE_AGENTS: served, STATE_TASKS: runner, STATE_PROBES: probes}
            finally:
                closing.start()
                if runner is not None:
                    runner.stop()  # its workers wind down while the runs do
                await registry.aclose(closing.left())

    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/agents", api.list_agents, methods=["GET"]),
        Route("/agents/{name}", api.run_agent, methods=["POST"]),
        # Ids may hold a slash (sent as %2F, which the path arrives decoded from).
        Route("/agents/{name}/threads/{thread_id:path}", api.thread, methods=["GET"]),
        Route("/runs/{run_id:path}/cancel", api.cancel, methods=["POST"]),
        Route("/runs/{run_id:path}/events", api.events, methods=["GET"]),
    ]
    if tasks is not None:
        routes.extend(api.task_routes())
    if len(agents) == 1:
        routes.append(Route("/", api.run_single, methods=["POST"]))
    middleware = []
    if api.options.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(api.options.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
                expose_headers=["*"],
            )
        )
    if api.options.allowed_hosts is not None:
        middleware.insert(0, Middleware(TrustedHosts, hosts=api.options.allowed_hosts))
    handlers = {404: _no_route, 405: _no_route}
    app = Starlette(
        routes=routes, middleware=middleware, lifespan=span, exception_handlers=handlers
    )
    app.state.registry = api.registry
    return app


async def _start_tasks(
    stack: contextlib.AsyncExitStack,
    opening: contextlib.AbstractAsyncContextManager[TaskStore],
    registry: RunRegistry,
    served: Mapping[str, Agent],
    options: ServerOptions,
    *,
    closing: Deadline,
) -> TaskRunner:
    """Open the task store (closed with ``stack``), keep every run's log in it
    (ADR 0012), share threads through it where other processes do (one run
    per thread), and start the task runner on it (stopped with ``stack``,
    within what is ``closing``'s time left)."""
    store = await stack.enter_async_context(opening)
    logs = store.run_logs()
    if logs is not None:
        registry.keep_logs(logs)
    claims = store.thread_claims()
    if claims is not None:
        registry.share_threads(claims, options.tasks.lease_seconds)
    runner = TaskRunner(store, {name: a.graph for name, a in served.items()}, options.tasks)
    await runner.start()
    stack.push_async_callback(lambda: runner.aclose(closing.left()))
    return runner


class _Endpoint:
    """Turns ``ApiError`` (input refused before a run: 422 with its code; a
    store that cannot be used now: 503 ``STORE_UNAVAILABLE``) into its JSON
    response; runs auth first."""

    def __init__(
        self, handler: Callable[[Request], Awaitable[Reply]], api: _Api, public: bool = False
    ) -> None:
        self._handler = handler
        self._api = api
        self._public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response: Reply
        try:
            if not self._public:
                request.state.principal = await self._api.authenticate(request)
            response = await self._handler(request)
        except ApiError as exc:
            response = exc.response()
        except InputError as exc:
            status = 409 if exc.code == ErrorCode.THREAD_OF_ANOTHER_AGENT else 422
            response = ApiError(status, str(exc.code), exc.message).response()
        except StoreUnavailableError as exc:
            logger.warning("%s %s: %s", request.method, request.url.path, exc)
            response = ApiError(503, str(exc.code), str(exc)).response()
        await response(scope, receive, send)


class _Api:
    def __init__(self, options: ServerOptions, registry: RunRegistry) -> None:
        self.options = options
        self.registry = registry
        self.body_limits = BodyLimits(options.max_body_bytes, options.body_timeout_seconds)
        self.healthz = _Endpoint(self._healthz, self, public=True)
        self.readyz = _Endpoint(self._readyz, self, public=True)
        self.list_agents = _Endpoint(self._list_agents, self)
        self.run_agent = _Endpoint(self._run_agent, self)
        self.run_single = _Endpoint(self._run_single, self)
        self.thread = _Endpoint(self._thread, self)
        self.cancel = _Endpoint(self._cancel, self)
        self.events = _Endpoint(self._events, self)
        self.task_api = TaskRoutes(
            lambda request: self._agent(request).name, self.body_limits, self._stream
        )

    def task_routes(self) -> list[Route]:
        t = self.task_api
        return [
            Route("/agents/{name}/tasks", _Endpoint(t.create, self), methods=["POST"]),
            Route("/tasks", _Endpoint(t.board, self), methods=["GET"]),
            Route("/tasks/{task_id}", _Endpoint(t.one, self), methods=["GET"]),
            Route("/tasks/{task_id}/cancel", _Endpoint(t.cancel, self), methods=["POST"]),
            Route("/tasks/{task_id}/retry", _Endpoint(t.retry, self), methods=["POST"]),
            Route("/tasks/{task_id}/followup", _Endpoint(t.followup, self), methods=["POST"]),
            Route("/tasks/{task_id}/events", _Endpoint(t.events, self), methods=["GET"]),
        ]

    # -- auth -------------------------------------------------------------------

    async def authenticate(self, request: Request) -> str | None:
        key = self.options.api_key
        if key is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
                raise ApiError(401, "UNAUTHORIZED", "missing or wrong API key")
        hook = self.options.auth_hook
        if hook is None:
            return None
        principal = hook(request)
        if inspect.isawaitable(principal):
            principal = await principal
        if principal is None:
            raise ApiError(401, "UNAUTHORIZED", "the auth hook rejected the request")
        return str(principal)

    # -- routes -----------------------------------------------------------------

    async def _healthz(self, request: Request) -> Response:
        """Liveness: the process serves requests."""
        return JSONResponse({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        """Readiness: the task store can be written now (on SQLite it holds the
        checkpoints too), a checkpointer on a pool of its own reaches its
        database; 503 ``STORE_UNAVAILABLE`` when not."""
        for probe in readiness_probes(request):
            await probe()
        return JSONResponse({"status": "ready"})

    async def _list_agents(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "agents": [
                    {
                        "name": a.name,
                        "description": a.description,
                        "url": f"{base}/agents/{a.name}",
                        "capabilities": _capabilities(a).model_dump(by_alias=True),
                    }
                    for a in served_agents(request).values()
                ]
            }
        )

    async def _run_single(self, request: Request) -> Reply:
        return await self._start(request, next(iter(served_agents(request).values())))

    async def _run_agent(self, request: Request) -> Reply:
        return await self._start(request, self._agent(request))

    def _agent(self, request: Request) -> Agent:
        name = request.path_params["name"]
        agent = served_agents(request).get(name)
        if agent is None:
            raise ApiError(404, "AGENT_NOT_FOUND", f"no agent named {name!r}")
        return agent

    async def _start(self, request: Request, agent: Agent) -> Reply:
        run = await read_model(request, RunAgentInput, self.body_limits)
        check_run_ids(run)
        check_values(run)
        principal = request.state.principal
        runner = task_runner(request)
        if runner is not None:
            handshake = await self.task_api.handshake(request, agent.name, run)
            if handshake is not None:
                return handshake
        mode = _on_disconnect(run, self.options.on_disconnect)
        key = thread_key(principal, run.thread_id)
        await check_input(agent.graph, run, key)
        tools: dict[str, Any] = {}
        activity = None
        if runner is not None:
            activity = TaskActivity(
                runner.store, lambda task_id: events_url(str(request.base_url), task_id)
            )
            tools = runner.context(
                agent.name,
                run.run_id,
                run.thread_id,
                principal=principal,
                on_started=activity.started,
            )
        try:
            record = await self.registry.start_claimed(
                agent.graph,
                run,
                agent=agent.name,
                thread_key=key,
                principal=principal,
                on_disconnect=mode,
                options=RunOptions(
                    mapper=MapperOptions(interrupt_channel=self._channel(agent)),
                    configurable=tools,
                    agent=agent.name,
                    other_agents=frozenset(served_agents(request)) - {agent.name},
                ),
            )
        except ThreadBusyError as exc:
            raise ApiError(409, "THREAD_BUSY", str(exc)) from exc
        except RunExistsError as exc:
            raise ApiError(409, "RUN_EXISTS", str(exc)) from exc
        if activity is not None:
            activity.attach(record)
        stop = None
        if mode == "cancel":

            def stop() -> None:
                # A run that ended as its caller left has nothing left to stop.
                with contextlib.suppress(RunEndedError):
                    self.registry.cancel(record.run_id, principal)

        return self._stream(RunLogSource(record.log), record.start_seq, stop, record.run_id)

    def _channel(self, agent: Agent) -> InterruptChannel:
        return agent.interrupt_channel or self.options.interrupt_channel

    def _stream(
        self,
        source: LogSource,
        after: int,
        stop: Callable[[], None] | None,
        run_id: str,
        events: str | None = None,
    ) -> EventStream:
        """The SSE response; its headers name the run and where the stream is
        re-attached (``x-graphwire-events``: a path taking ``Last-Event-ID``)."""
        headers = [(b"x-graphwire-run-id", run_id.encode())]
        events = events or (f"/runs/{quote(run_id, safe='')}/events" if run_id else None)
        if events is not None:
            headers.append((b"x-graphwire-events", events.encode()))
        return EventStream(
            source,
            after,
            self.options.keepalive_seconds,
            self.options.send_timeout_seconds,
            stop,
            tuple(headers),
            self.options.flush_interval_ms / 1000,
        )

    async def _thread(self, request: Request) -> Response:
        agent = self._agent(request)
        thread_id = checked_id(request.path_params["thread_id"], "threadId")
        key = thread_key(request.state.principal, thread_id)
        snapshot = await agent.graph.aget_state({"configurable": {"thread_id": key}})
        others = frozenset(served_agents(request)) - {agent.name}
        check_agent(agent_of(snapshot), agent.name, others)  # 409: another agent's thread
        values = snapshot.values if isinstance(snapshot.values, dict) else {}
        raised = [InterruptRaised(i.id, i.value, _schema(i)) for i in snapshot.interrupts]
        paused = await breakpoint_of(agent.graph, snapshot)
        if paused is not None:
            raised.append(paused.raised())
        interrupts = [to_agui_interrupt(r, [], None) for r in raised]
        state = visible_state(values, DEFAULT_HIDDEN_KEYS)
        body: dict[str, Any] = {
            "threadId": thread_id,
            "messages": [
                m.model_dump(by_alias=True) for m in to_agui_messages(values.get("messages") or [])
            ],
            "state": state,
            "interrupts": [i.model_dump(by_alias=True) for i in interrupts],
            "activeRunId": await self.registry.active_run_anywhere(key, request.state.principal),
        }
        if task_runner(request) is not None:
            await self.task_api.describe_thread(request, body)
        return JSONResponse(body)

    async def _cancel(self, request: Request) -> Response:
        run_id = checked_id(request.path_params["run_id"], "runId")
        try:
            await self.registry.cancel_anywhere(run_id, request.state.principal)
        except RunNotFoundError as exc:
            raise _unknown_run(exc) from exc
        except RunEndedError as exc:
            raise ApiError(409, "RUN_ENDED", str(exc)) from exc
        return JSONResponse({"runId": run_id, "status": "cancelling"}, status_code=202)

    async def _events(self, request: Request) -> Reply:
        run_id = checked_id(request.path_params["run_id"], "runId")
        after = last_event_id(request)
        try:
            log = await self.registry.find(run_id, request.state.principal)
        except RunNotFoundError as exc:
            raise _unknown_run(exc) from exc
        source = RunLogSource(log) if isinstance(log, RunLog) else log
        return self._stream(source, after, None, run_id)


async def _no_route(request: Request, exc: Exception) -> Response:
    """Starlette's 404 / 405 for a path no route serves, as JSON with a code."""
    status = getattr(exc, "status_code", 404)
    code = "METHOD_NOT_ALLOWED" if status == 405 else "NOT_FOUND"
    headers = getattr(exc, "headers", None)
    return ApiError(status, code, f"{request.method} {request.url.path}: {code}").response(headers)


def _unknown_run(exc: RunNotFoundError) -> ApiError:
    """404 ``RUN_NOT_FOUND``, or 410 ``RUN_EXPIRED`` for a run whose log is no longer kept."""
    if isinstance(exc, RunExpiredError):
        return ApiError(410, "RUN_EXPIRED", str(exc))
    return ApiError(404, "RUN_NOT_FOUND", str(exc))


def _on_disconnect(run: RunAgentInput, default: OnDisconnect) -> OnDisconnect:
    props = run.forwarded_props if isinstance(run.forwarded_props, dict) else {}
    ours = props.get("graphwire")
    choice = ours.get("onDisconnect") if isinstance(ours, dict) else None
    if choice is None:
        return default
    if choice not in ("cancel", "continue"):
        raise ApiError(
            422,
            "INVALID_INPUT",
            "forwardedProps.graphwire.onDisconnect must be 'cancel' or 'continue'",
        )
    return "continue" if choice == "continue" else "cancel"


def _schema(interrupt: Any) -> dict[str, Any] | None:
    schema = getattr(interrupt, "response_schema", None)
    return schema if isinstance(schema, dict) else None


def _capabilities(agent: Agent) -> AgentCapabilities:
    return AgentCapabilities(
        identity=IdentityCapabilities(
            name=agent.name, type="langgraph", description=agent.description or None
        ),
        transport=TransportCapabilities(streaming=True, resumable=True),
        tools=ToolsCapabilities(supported=True, client_provided=True, parallel_calls=True),
        state=StateCapabilities(snapshots=True, deltas=True, persistent_state=True),
        reasoning=ReasoningCapabilities(supported=True, streaming=True),
        human_in_the_loop=HumanInTheLoopCapabilities(supported=True, interrupts=True),
    )
