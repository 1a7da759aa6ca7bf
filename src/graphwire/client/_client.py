"""An async AG-UI client for graphwire servers, on httpx.

``run`` starts a run and yields its events as the SDK's models; the run is
asked to go on if the connection drops (``onDisconnect: continue``), and the
stream re-attaches with ``Last-Event-ID`` by itself, so every event comes
exactly once. Leaving a stream before its end cancels the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from ag_ui.core import (
    PROTOCOL_VERSION,
    BaseEvent,
    Event,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
)
from httpx_sse import EventSource, aconnect_sse
from pydantic import TypeAdapter

from graphwire.client._answers import Answer
from graphwire.client._errors import ClientError, ConflictError, NotFoundError, raise_for_error
from graphwire.client._result import RunResult

_EVENT: TypeAdapter[Event] = TypeAdapter(Event)
REATTACH_ATTEMPTS = 5
"""How often a dropped stream is re-attached before the error is raised."""


class RunStream:
    """One run's events (``async for``), then its ``result``. Re-attaches after a
    dropped connection; ``aclose`` before the end cancels the run."""

    def __init__(self, client: GraphwireClient, agent: str, body: dict[str, Any]) -> None:
        self._client = client
        self._path = f"/agents/{agent}"
        self._body = body
        self.agent = agent
        self.run_id: str = body["runId"]
        self.thread_id: str = body["threadId"]
        self._reattach = f"/runs/{quote(self.run_id, safe='')}/events"
        self.result = RunResult(self.run_id)
        """What the events said so far; complete once the stream has ended."""
        self._seq = 0
        self._ended = False
        self._events: AsyncGenerator[BaseEvent, None] | None = None

    def __aiter__(self) -> AsyncIterator[BaseEvent]:
        if self._events is None:
            self._events = self._read()
        return self._events

    async def finish(self) -> RunResult:
        """Read the rest of the run; its result."""
        async for _ in self:
            pass
        return self.result

    def answer(self, answers: Mapping[str, Answer]) -> RunStream:
        """Resume this run's thread with an answer per interrupt id (a new run)."""
        return self._client.answer(self.agent, self.thread_id, answers)

    @property
    def task_id(self) -> str | None:
        """The task this run belongs to (a run on a task's thread), once started."""
        parts = self._reattach.split("/")
        return parts[2] if len(parts) == 4 and parts[1] == "tasks" else None

    async def cancel(self) -> None:
        """Stop the run on the server (its stream ends with outcome cancelled; a
        task's run: its task is cancelled); a run that has ended meanwhile is
        left as it ended."""
        if self._ended:
            return
        try:
            if self.task_id is not None:
                await self._client.cancel_task(self.task_id)
            else:
                await self._client.cancel(self.run_id)
        except ConflictError as exc:
            if exc.code != "RUN_ENDED" and not exc.code.startswith("TASK_"):
                raise

    async def aclose(self) -> None:
        """Stop reading; a run this stream started and that has not ended is
        cancelled."""
        if self._events is not None:
            await self._events.aclose()
        if self._accepted and not self._ended:
            # It ended meanwhile (409), or never started (404): nothing to stop.
            with contextlib.suppress(ConflictError, NotFoundError):
                await self._client.cancel(self.run_id)

    async def __aenter__(self) -> RunStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _read(self) -> AsyncGenerator[BaseEvent, None]:
        retries = _Retries()
        while not self._ended:
            try:
                async with contextlib.aclosing(self._connect()) as events:
                    async for event in events:
                        retries.count = 0
                        yield event
            except httpx.TransportError as exc:
                await retries.again(exc)
            else:
                if not self._ended:  # the stream ended early: re-attach
                    cut = ClientError(0, "STREAM_CUT", f"run {self.run_id} stream ended early")
                    await retries.again(cut)

    async def _connect(self) -> AsyncGenerator[BaseEvent, None]:
        """One connection: the POST that starts the run, or a re-attach after the
        last event seen."""
        http = self._client.http
        if not self._accepted and self._posted and await self._exists():
            self._accepted = True  # the POST got through, its answer did not
        if self._accepted:
            request = _sse(http, "GET", self._reattach, after=self._seq)
        else:
            self._posted = True
            request = _sse(http, "POST", self._path, json=self._body)
        async with request as source:
            if not self._accepted:
                self._reattach = _reattach_path(source.response, self._reattach)
            self._accepted = True
            async for self._seq, event in _events(source):
                if not self._begun:
                    # A task's log holds its earlier runs too: from the start
                    # (a drop before the first event), skip to this run's own.
                    self._begun = isinstance(event, RunStartedEvent) and event.run_id == self.run_id
                    if not self._begun:
                        continue
                self.result.apply(event)
                if isinstance(event, RunFinishedEvent | RunErrorEvent):
                    self._ended = True
                yield event
                if self._ended:
                    return

    async def _exists(self) -> bool:
        """Whether the server has this run (a POST whose answer was lost)."""
        async with self._client.http.stream("GET", self._reattach) as response:
            return response.status_code == HTTPStatus.OK

    _posted = False
    """A POST of this run was sent (it may have got through)."""
    _begun = False
    """This run's RUN_STARTED has been seen."""
    _accepted = False
    """The server took the run (its POST answered 200): from now on a dropped
    stream re-attaches, and leaving early cancels it."""


class GraphwireClient:
    """An async client for one graphwire server: runs, resumes, cancels, threads
    and the task board. Use it as ``async with GraphwireClient(url) as client``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = http or httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=httpx.Timeout(timeout, read=None)
        )

    async def __aenter__(self) -> GraphwireClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    # -- runs -----------------------------------------------------------------------

    def run(
        self,
        agent: str,
        messages: Sequence[Mapping[str, Any]] = (),
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        state: Mapping[str, Any] | None = None,
        resume: Sequence[Mapping[str, Any]] | None = None,
        tools: Sequence[Mapping[str, Any]] = (),
        context: Sequence[Mapping[str, Any]] = (),
        forwarded_props: Mapping[str, Any] | None = None,
    ) -> RunStream:
        """Start a run of ``agent`` (AG-UI messages as dicts: ``{"role": "user",
        "content": "hi"}``; ids are added where missing). Iterate the stream for
        its events, or ``await stream.finish()`` for its result."""
        props = dict(forwarded_props or {})
        props.setdefault("graphwire", {"onDisconnect": "continue"})
        body: dict[str, Any] = {
            "threadId": thread_id or str(uuid.uuid4()),
            "runId": run_id or str(uuid.uuid4()),
            "protocolVersion": PROTOCOL_VERSION,
            "state": dict(state or {}),
            "messages": [{"id": str(uuid.uuid4()), **m} for m in messages],
            "tools": list(tools),
            "context": list(context),
            "forwardedProps": props,
        }
        if resume:
            body["resume"] = list(resume)
        return RunStream(self, agent, body)

    def resume(
        self,
        agent: str,
        thread_id: str,
        answers: Mapping[str, Any],
        *,
        cancelled: Sequence[str] = (),
        **run: Any,
    ) -> RunStream:
        """Answer a thread's interrupts by id (``answers``: id -> payload;
        ``cancelled``: ids the user dismissed) in a new run."""
        entries = [
            {"interruptId": i, "status": "resolved", "payload": p} for i, p in answers.items()
        ]
        entries += [{"interruptId": i, "status": "cancelled"} for i in cancelled]
        return self.run(agent, thread_id=thread_id, resume=entries, **run)

    def answer(
        self, agent: str, thread_id: str, answers: Mapping[str, Answer], **run: Any
    ) -> RunStream:
        """``resume`` with an ``Answer`` per interrupt id (a payload, or dismissed)."""
        resolved = {key: a.payload for key, a in answers.items() if not a.dismissed}
        dismissed = [key for key, a in answers.items() if a.dismissed]
        return self.resume(agent, thread_id, resolved, cancelled=dismissed, **run)

    async def cancel(self, run_id: str) -> None:
        """Stop a run (``ConflictError`` when it has ended already)."""
        raise_for_error(await self.http.post(f"/runs/{quote(run_id, safe='')}/cancel"))

    async def thread(self, agent: str, thread_id: str) -> dict[str, Any]:
        """A thread as the server holds it: messages, state, open interrupts."""
        return await self._json("GET", f"/agents/{agent}/threads/{quote(thread_id, safe='')}")

    async def agents(self) -> list[dict[str, Any]]:
        """The agents the server serves, with their capabilities."""
        body = await self._json("GET", "/agents")
        agents: list[dict[str, Any]] = body["agents"]
        return agents

    # -- tasks ----------------------------------------------------------------------

    async def create_task(self, agent: str, prompt: str, **fields: Any) -> dict[str, Any]:
        """Delegate ``prompt`` to ``agent`` as a background task (``title``,
        ``parentRunId``, ``parentTaskId`` may be given); the new task."""
        return await self._json("POST", f"/agents/{agent}/tasks", {"prompt": prompt, **fields})

    async def tasks(self, **query: str) -> dict[str, Any]:
        """A page of the board (``state``, ``agent``, ``limit``, ``cursor`` ...)."""
        return await self._json("GET", "/tasks", params=query)

    async def task(self, task_id: str) -> dict[str, Any]:
        """One task, with its children."""
        return await self._json("GET", f"/tasks/{task_id}")

    async def cancel_task(self, task_id: str) -> dict[str, Any]:
        """Cancel a queued, running or in-review task."""
        return await self._json("POST", f"/tasks/{task_id}/cancel")

    async def retry_task(self, task_id: str) -> dict[str, Any]:
        """Run a failed or cancelled task again from its checkpoint."""
        return await self._json("POST", f"/tasks/{task_id}/retry")

    async def followup(self, task_id: str, message: str) -> dict[str, Any]:
        """Continue a settled task's thread with a new message."""
        return await self._json("POST", f"/tasks/{task_id}/followup", {"message": message})

    async def task_events(self, task_id: str, after: int = 0) -> AsyncIterator[BaseEvent]:
        """A task's AG-UI events after seq ``after``, live until it settles
        (waits for review, or ends). A dropped connection is re-attached after
        the last event seen, so each event comes once."""
        retries, seen, path = _Retries(), after, f"/tasks/{task_id}/events"
        while True:
            try:
                async with _sse(self.http, "GET", path, after=seen) as source:
                    async for seq, event in _events(source):
                        seen, retries.count = seq, 0
                        yield event
            except httpx.TransportError as exc:
                await retries.again(exc)
                continue
            if (await self.task(task_id))["state"] not in ("queued", "ongoing"):
                return
            await retries.again(ClientError(0, "STREAM_CUT", f"task {task_id} stream ended early"))

    async def _json(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.http.request(method, path, json=body, params=params)
        raise_for_error(response)
        data: dict[str, Any] = response.json()
        return data


def _reattach_path(response: httpx.Response, default: str) -> str:
    """Where the server says this stream is re-attached (a task's handshake
    run: its task's events), a path on the same server."""
    path = response.headers.get("x-graphwire-events", "")
    return path if path.startswith("/") and not path.startswith("//") else default


class _Retries:
    """Re-attach attempts since the last event seen, with a short backoff."""

    def __init__(self) -> None:
        self.count = 0

    async def again(self, error: Exception) -> None:
        """Wait before the next attempt; ``error`` once they are used up."""
        self.count += 1
        if self.count > REATTACH_ATTEMPTS:
            raise error
        await asyncio.sleep(0.05 * self.count)


@contextlib.asynccontextmanager
async def _sse(
    http: httpx.AsyncClient, method: str, path: str, *, after: int = 0, **kwargs: Any
) -> AsyncIterator[EventSource]:
    """An SSE response (``Last-Event-ID: after`` when re-attaching); an error
    answer raised as the client's error."""
    headers = {"last-event-id": str(after)} if after else {}
    async with aconnect_sse(http, method, path, headers=headers, **kwargs) as source:
        if source.response.status_code >= 400:
            await source.response.aread()
            raise_for_error(source.response)
        yield source


async def _events(source: EventSource) -> AsyncIterator[tuple[int, BaseEvent]]:
    """Each event of an SSE stream with its seq (keep-alive comments skipped)."""
    async for sse in source.aiter_sse():
        if sse.data:
            yield int(sse.id), _EVENT.validate_json(sse.data)
