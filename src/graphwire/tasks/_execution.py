"""One run of a claimed task: drive the graph, log every event, keep the lease,
stop on cancel / timeout / shutdown, and report the outcome — all fenced by the
claim's (owner, attempt).

The run is an ordinary ``GraphRun`` (the foreground machinery); its events go
to the task's log through a group-commit writer: while one batch is being
written the next accumulates, so a slow disk never stalls the graph and a busy
store gets few, larger transactions.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ag_ui.core import (
    BaseEvent,
    MessagesSnapshotEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
)
from langgraph.pregel import Pregel
from langgraph.types import Durability

from graphwire.protocol import ErrorCode
from graphwire.runs import GraphRun, RunOptions, encode_event, read_thread
from graphwire.tasks._model import (
    Failure,
    Lease,
    LeaseLostError,
    RunOutcome,
    Task,
    TaskState,
)
from graphwire.tasks.stores import TaskStore

logger = logging.getLogger("graphwire.tasks")

StopReason = Literal["cancelled", "timeout", "shutdown", "lost"]
GROUP_COMMIT_SECONDS = 0.02
"""How long a batch collects events before it is written: a run's tokens arrive
in bursts, and one transaction per burst costs far less than one per event."""


@dataclass(frozen=True, slots=True)
class RunLimits:
    lease_seconds: float
    timeout: float | None
    durability: Durability = "async"


class EventWriter:
    """Appends a run's events to the task's log in batches (group commit).

    Whatever is still unwritten when the run closes — the terminal event at
    least — is written by ``settle`` in the same transaction as the outcome.
    """

    def __init__(self, store: TaskStore, task_id: str, lease: Lease, run_id: str) -> None:
        self._store = store
        self._task_id = task_id
        self._lease = lease
        self._run_id = run_id
        self._pending: list[str] = []
        self._more = asyncio.Event()
        self._closing = False
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.terminal: BaseEvent | None = None
        self.snapshot: MessagesSnapshotEvent | None = None

    def put(self, event: BaseEvent) -> None:
        if isinstance(event, RunFinishedEvent | RunErrorEvent):
            self.terminal = event
        elif isinstance(event, MessagesSnapshotEvent):
            self.snapshot = event
        self._pending.append(encode_event(event))
        self._more.set()

    @property
    def rest(self) -> list[str]:
        """Frames not yet written (after ``run`` returned): they go with the outcome."""
        return self._pending

    def close(self) -> None:
        """No more events: ``run`` returns, leaving the rest for the outcome's write."""
        self._closing = True
        if not self._closed.done():
            self._closed.set_result(None)
        self._more.set()

    async def run(self) -> None:
        while True:
            await self._more.wait()
            await asyncio.wait({self._closed}, timeout=GROUP_COMMIT_SECONDS)
            if self._closing:
                return
            self._more.clear()
            batch, self._pending = self._pending, []
            await self._store.append_events(self._task_id, self._lease, self._run_id, batch)


class TaskExecution:
    """Runs one claimed task to its outcome. ``await execute()`` owns every task it starts."""

    def __init__(
        self,
        store: TaskStore,
        task: Task,
        graph: Pregel[Any, Any],
        limits: RunLimits,
        stopped: asyncio.Future[None],
    ) -> None:
        self._store = store
        self._task = task
        self._graph = graph
        self._limits = limits
        self._stopped = stopped
        self._lease = Lease(str(task.lease_owner), task.attempt, limits.lease_seconds)
        self._run_id = task.run_ids[-1]
        self._writer = EventWriter(store, task.id, self._lease, self._run_id)

    async def execute(self, configurable: Mapping[str, Any]) -> None:
        run_input = await self._run_input()
        options = RunOptions(
            configurable=configurable,
            durability=self._limits.durability,
            new_thread=len(self._task.run_ids) == 1,  # a task's thread starts with its first run
        )
        graph_run = GraphRun(self._graph, run_input, options)
        writer = asyncio.create_task(self._writer.run(), name=f"graphwire-task-log-{self._run_id}")
        driver = asyncio.create_task(self._drive(graph_run), name=f"graphwire-task-{self._run_id}")
        try:
            reason = await self._supervise(driver, writer)
        finally:
            driver.cancel()
            await asyncio.wait({driver})
        self._writer_close(graph_run, driver, reason)
        await asyncio.wait({writer})
        error = writer.exception()
        if error is not None and not isinstance(error, LeaseLostError):
            raise error
        if reason == "lost" or error is not None:
            logger.warning("task %s: lease lost; a newer attempt owns it", self._task.id)
            return
        await self._settle(reason)

    async def _drive(self, graph_run: GraphRun) -> None:
        async for event in graph_run.events():
            self._writer.put(event)

    def _writer_close(
        self, graph_run: GraphRun, driver: asyncio.Task[None], reason: StopReason | None
    ) -> None:
        for event in self._closing(graph_run, driver, reason):
            self._writer.put(event)
        self._writer.close()

    def _closing(
        self, graph_run: GraphRun, driver: asyncio.Task[None], reason: StopReason | None
    ) -> list[BaseEvent]:
        if reason == "cancelled":
            return graph_run.cancel()
        if reason == "timeout":
            return graph_run.abort(
                ErrorCode.TASK_TIMEOUT, f"The task ran longer than {self._limits.timeout} s."
            )
        if reason == "shutdown":
            return graph_run.abort(
                ErrorCode.WORKER_STOPPED,
                "The server stopped; the task runs again from its last checkpoint.",
            )
        if reason is None and not driver.cancelled() and driver.exception() is not None:
            logger.error("task %s run crashed", self._task.id, exc_info=driver.exception())
            return graph_run.abort(ErrorCode.INTERNAL_ERROR, "graphwire failed running the task.")
        return []

    async def _supervise(
        self, driver: asyncio.Task[None], writer: asyncio.Task[None]
    ) -> StopReason | None:
        """Wait for the run to end, renewing the lease; say why it must stop early."""
        loop = asyncio.get_running_loop()
        renew_every = self._limits.lease_seconds / 3
        renew_at = loop.time() + renew_every
        timeout = self._limits.timeout
        deadline = loop.time() + timeout if timeout else math.inf
        watch = self._watch(self._task.version)
        try:
            while True:
                wait = max(min(renew_at, deadline) - loop.time(), 0)
                waiting: set[asyncio.Future[Any]] = {driver, writer, watch, self._stopped}
                await asyncio.wait(
                    waiting,
                    timeout=wait,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if driver.done():
                    return None
                if writer.done():
                    return "lost"
                if self._stopped.done():
                    return "shutdown"
                if watch.done():
                    changed = watch.result()
                    if changed is not None and changed.state is TaskState.CANCELLED:
                        return "cancelled"
                    watch = self._watch(changed.version if changed else self._task.version)
                if loop.time() >= renew_at:
                    stop = await self._renew()
                    if stop is not None:
                        return stop
                    renew_at = loop.time() + renew_every
                if loop.time() >= deadline:
                    return "timeout"
        finally:
            watch.cancel()
            await asyncio.wait({watch})

    def _watch(self, version: int) -> asyncio.Task[Task | None]:
        return asyncio.create_task(
            self._store.wait_change(self._task.id, version, self._limits.lease_seconds)
        )

    async def _renew(self) -> StopReason | None:
        """Renew the lease; a cancel made by another process shows up here too."""
        try:
            task = await self._store.renew_lease(self._task.id, self._lease)
        except LeaseLostError:
            return "lost"
        return "cancelled" if task.state is TaskState.CANCELLED else None

    async def _settle(self, reason: StopReason | None) -> None:
        outcome = self._outcome(reason)
        try:
            await self._store.settle(self._task.id, self._lease, outcome, self._writer.rest)
        except LeaseLostError:
            logger.warning("task %s: lease lost before its outcome was saved", self._task.id)

    def _outcome(self, reason: StopReason | None) -> RunOutcome:
        terminal = self._writer.terminal
        if isinstance(terminal, RunErrorEvent):
            if reason == "shutdown":
                return RunOutcome("released")
            return RunOutcome("failed", error=Failure(terminal.code or "", terminal.message))
        if not isinstance(terminal, RunFinishedEvent) or terminal.outcome is None:
            return RunOutcome("failed", error=Failure(ErrorCode.INTERNAL_ERROR, "no outcome"))
        outcome = terminal.outcome
        if outcome.type == "interrupt":
            interrupts = tuple(i.model_dump(by_alias=True, mode="json") for i in outcome.interrupts)
            return RunOutcome("review", interrupts=interrupts)
        if outcome.type == "cancelled":
            return RunOutcome("cancelled")
        return RunOutcome("done", result=self._result())

    def _result(self) -> str | None:
        snapshot = self._writer.snapshot
        messages = snapshot.messages if snapshot is not None else []
        for message in reversed(messages):
            if message.role == "assistant":
                content = getattr(message, "content", None)
                return content if isinstance(content, str) else None
        return None

    async def _run_input(self) -> RunAgentInput:
        """The run's input: only what the thread does not hold yet (a rerun after a
        failure or crash continues from the checkpoint instead of starting over)."""
        task = self._task
        messages, resume = list(task.input_messages), list(task.resume or ())
        if len(task.run_ids) > 1:
            view = await read_thread(self._graph, task.thread_id)
            known = {m.id for m in view.messages}
            messages = [m for m in messages if m.get("id") not in known]
            if not {str(e.get("interruptId")) for e in resume} <= set(view.pending_interrupt_ids):
                resume = []  # the answers reached the checkpoint before a crash
        return RunAgentInput.model_validate(
            {
                "threadId": task.thread_id,
                "runId": self._run_id,
                "parentRunId": task.parent_run_id,
                "state": {},
                "messages": messages,
                "tools": [],
                "context": [],
                "forwardedProps": {},
                "resume": resume or None,
            }
        )
