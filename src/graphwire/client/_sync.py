"""The client for scripts: the async client run on an event loop of its own
(anyio's blocking portal, in a thread); every call blocks, streams iterate."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractContextManager
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

from ag_ui.core import BaseEvent
from anyio.from_thread import BlockingPortal, start_blocking_portal

from graphwire.client._client import GraphwireClient, RunStream
from graphwire.client._result import RunResult

_T = TypeVar("_T")


def _iterate(portal: BlockingPortal, events: AsyncIterator[_T]) -> Iterator[_T]:
    while True:
        try:
            yield portal.call(events.__anext__)
        except StopAsyncIteration:
            return


class SyncRunStream:
    """A run's events in a ``for`` loop, then its ``result``."""

    def __init__(self, portal: BlockingPortal, stream: RunStream) -> None:
        self._portal = portal
        self._stream = stream
        self.run_id = stream.run_id

    @property
    def result(self) -> RunResult:
        """What the events said so far; complete once the stream has ended."""
        return self._stream.result

    def __iter__(self) -> Iterator[BaseEvent]:
        return _iterate(self._portal, aiter(self._stream))

    def finish(self) -> RunResult:
        """Read the rest of the run; its result."""
        return self._portal.call(self._stream.finish)

    def cancel(self) -> None:
        """Stop the run on the server."""
        self._portal.call(self._stream.cancel)

    def close(self) -> None:
        """Stop reading; a run not yet ended is cancelled."""
        self._portal.call(self._stream.aclose)


class SyncGraphwireClient:
    """``GraphwireClient`` for code without an event loop: the same methods,
    blocking. Use it as ``with SyncGraphwireClient(url) as client``."""

    def __init__(self, base_url: str, **options: Any) -> None:
        """``options`` as ``GraphwireClient`` takes them (``api_key``, ``timeout``)."""
        self._running: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self._portal = self._running.__enter__()
        # The portal's thread keeps the interpreter alive: stop it if opening
        # fails, and when the client is collected without ``close``.
        stop = weakref.finalize(self, self._running.__exit__, None, None, None)
        try:
            self._client = self._portal.call(lambda: _opened(base_url, options))
        except BaseException:
            stop()
            raise
        self._stop = stop

    def __enter__(self) -> SyncGraphwireClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the client's event loop."""
        try:
            self._portal.call(self._client.aclose)
        finally:
            self._stop()

    def run(self, agent: str, *args: Any, **kwargs: Any) -> SyncRunStream:
        """Start a run (the arguments of ``GraphwireClient.run``)."""
        return SyncRunStream(self._portal, self._client.run(agent, *args, **kwargs))

    def resume(
        self, agent: str, thread_id: str, answers: Mapping[str, Any], **kwargs: Any
    ) -> SyncRunStream:
        """Answer a thread's interrupts by id in a new run."""
        stream = self._client.resume(agent, thread_id, answers, **kwargs)
        return SyncRunStream(self._portal, stream)

    def task_events(self, task_id: str, after: int = 0) -> Iterator[BaseEvent]:
        """A task's events after seq ``after``, live until it settles."""
        return _iterate(self._portal, self._client.task_events(task_id, after))

    def cancel(self, run_id: str) -> None:
        """Stop a run."""
        self._portal.call(self._client.cancel, run_id)

    def thread(self, agent: str, thread_id: str) -> dict[str, Any]:
        """A thread as the server holds it."""
        return self._portal.call(self._client.thread, agent, thread_id)

    def agents(self) -> list[dict[str, Any]]:
        """The agents the server serves."""
        return self._portal.call(self._client.agents)

    def create_task(self, agent: str, prompt: str, **fields: Any) -> dict[str, Any]:
        """Delegate ``prompt`` to ``agent`` as a background task."""
        return self._portal.call(partial(self._client.create_task, agent, prompt, **fields))

    def tasks(self, **query: str) -> dict[str, Any]:
        """A page of the board."""
        return self._portal.call(partial(self._client.tasks, **query))

    def task(self, task_id: str) -> dict[str, Any]:
        """One task, with its children."""
        return self._portal.call(self._client.task, task_id)

    def cancel_task(self, task_id: str) -> dict[str, Any]:
        """Cancel a task."""
        return self._portal.call(self._client.cancel_task, task_id)

    def retry_task(self, task_id: str) -> dict[str, Any]:
        """Run a failed or cancelled task again."""
        return self._portal.call(self._client.retry_task, task_id)

    def followup(self, task_id: str, message: str) -> dict[str, Any]:
        """Continue a settled task's thread with a new message."""
        return self._portal.call(self._client.followup, task_id, message)


async def _opened(base_url: str, options: Mapping[str, Any]) -> GraphwireClient:
    return GraphwireClient(base_url, **options)
