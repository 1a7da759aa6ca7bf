"""One run of a claimed task: drive the graph, log every event, keep the lease,
stop on cancel / timeout / shutdown, and report the outcome — all fenced by the
claim's (owner, attempt).

The run is an ordinary ``GraphRun`` (the foreground machinery); its events go
to the task's log through a group-commit writer (``EventWriter``): events
collect for a few milliseconds before a batch is written, writes never stall
the graph, and the last events go in the same transaction as the outcome.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ag_ui.core import (
    PROTOCOL_VERSION,
    BaseEvent,
    MessagesSnapshotEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    TextMessageContentEvent,
)
from langgraph.pregel import Pregel
from langgraph.types import Durability

from graphwire.protocol import ErrorCode, StoreUnavailableError
from graphwire.runs import Frames, GraphRun, RunOptions, read_thread, thread_key
from graphwire.tasks.stores import TaskStore
from graphwire.tasks.stores._model import (
    Failure,
    Lease,
    LeaseLostError,
    RunOutcome,
    Task,
    TaskState,
)

logger = logging.getLogger("graphwire.tasks")

StopReason = Literal["cancelled", "timeout", "shutdown", "lost"]
AGAIN = "it runs again from its last checkpoint once its lease expires"
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

    The first event of a batch starts a short timer; when it fires the batch is
    written in one transaction. The terminal event is never written in a batch:
    it and whatever is still unwritten when it comes are written by ``settle``
    in the same transaction as the outcome — a crash between the two would
    leave a finished log on a task that runs again — and a short run costs no
    separate log write.
    """

    def __init__(self, store: TaskStore, task_id: str, lease: Lease, run_id: str) -> None:
        self._store = store
        self._task_id = task_id
        self._lease = lease
        self._run_id = run_id
        self._pending = Frames()
        self._held = False
        self._timer: asyncio.TimerHandle | None = None
        self._flush: asyncio.Task[int] | None = None
        self.error: BaseException | None = None
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Resolves when a write failed (``error`` says why)."""
        self.terminal: BaseEvent | None = None
        self.snapshot: MessagesSnapshotEvent | None = None

    def put(self, event: BaseEvent) -> None:
        if isinstance(event, RunFinishedEvent | RunErrorEvent):
            self.terminal = event
            self._hold()  # written by settle with the outcome: never logged without it
        elif isinstance(event, MessagesSnapshotEvent):
            self.snapshot = event
        self._pending.put(event)
        self._schedule()

    def put_delta(self, event: TextMessageContentEvent, delta: str) -> None:
        self._pending.put_delta(event, delta)
        self._schedule()

    def _hold(self) -> None:
        """Write no more batches: what is pending now goes with the outcome."""
        self._held = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        if self._timer is None and self._flush is None and not self._held:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(GROUP_COMMIT_SECONDS, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        batch = self._pending.take()
        append = self._store.append_events(self._task_id, self._lease, self._run_id, batch)
        self._flush = asyncio.create_task(append, name=f"graphwire-task-log-{self._run_id}")
        self._flush.add_done_callback(self._flushed)

    def _flushed(self, flush: asyncio.Task[int]) -> None:
        self._flush = None
        if flush.cancelled() or flush.exception() is not None:
            self.error = flush.exception() if not flush.cancelled() else None
            if not self.failed.done():
                self.failed.set_result(None)
            return
        if self._pending:
            self._schedule()

    async def close(self) -> list[str]:
        """No more events: wait for a write in flight; return the rest for the outcome."""
        self._hold()
        if self._flush is not None:
            await asyncio.wait({self._flush})
        return self._pending.take()


class TaskExecution:
    """Runs one claimed task to its outcome. ``await execute()`` owns every task it starts."""

    def __init__(
        self,
        store: TaskStore,
        task: Task,
        graph: Pregel[Any, Any],
        limits: RunLimits,
        *,
        stopped: asyncio.Future[None],
        watching: asyncio.Future[None],
    ) -> None:
        """``watching``: armed by ``TaskStore.watch_task`` right at the claim, so no
        change made after the claim goes unseen; disarmed by the caller."""
        self._store = store
        self._task = task
        self._graph = graph
        self._limits = limits
        self._stopped = stopped
        self._watching = watching
        self._lease = Lease(str(task.lease_owner), task.attempt, limits.lease_seconds)
        self._run_id = task.run_ids[-1]
        self._thread_key = thread_key(task.principal, task.thread_id)
        self._writer = EventWriter(store, task.id, self._lease, self._run_id)
        self._renewed = 0.0
        """When the lease was last renewed (loop time)."""

    async def execute(self, configurable: Mapping[str, Any]) -> None:
        run_input = await self._run_input()
        options = RunOptions(
            thread_key=self._thread_key,
            agent=self._task.agent,  # a task's own thread: only its agent runs on it
            configurable=configurable,
            durability=self._limits.durability,
            new_thread=len(self._task.run_ids) == 1,  # a task's thread starts with its first run
        )
        graph_run = GraphRun(self._graph, run_input, options)
        driver = asyncio.create_task(
            graph_run.run(self._writer), name=f"graphwire-task-{self._run_id}"
        )
        try:
            reason = await self._supervise(driver)
        finally:
            driver.cancel()
            await asyncio.wait({driver})
        for event in self._closing(graph_run, driver, reason):
            self._writer.put(event)
        rest = await self._writer.close()
        error = self._writer.error
        if isinstance(error, StoreUnavailableError):
            logger.warning("task %s: log not written: %s; %s", self._task.id, error, AGAIN)
            return
        if error is not None and not isinstance(error, LeaseLostError):
            raise error
        if reason == "lost" or error is not None:
            logger.warning("task %s: lease lost; a newer attempt owns it", self._task.id)
            return
        await self._settle(reason, rest)

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

    async def _supervise(self, driver: asyncio.Task[None]) -> StopReason | None:
        """Wait for the run to end, renewing the lease; say why it must stop early."""
        loop = asyncio.get_running_loop()
        self._renewed = loop.time()
        renew_at = self._renewed + self._limits.lease_seconds / 3
        timeout = self._limits.timeout
        deadline = loop.time() + timeout if timeout else math.inf
        while True:
            waiting: set[asyncio.Future[Any]] = {
                driver,
                self._writer.failed,
                self._watching,
                self._stopped,
            }
            wait = max(min(renew_at, deadline) - loop.time(), 0)
            await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if driver.done():
                return None
            if self._writer.failed.done():
                return "lost"
            if self._stopped.done():
                return "shutdown"
            if self._watching.done() and await self._cancelled():
                return "cancelled"
            if loop.time() >= renew_at:
                next_at = await self._renew()
                if isinstance(next_at, str):
                    return next_at
                renew_at = next_at
            if loop.time() >= deadline:
                return "timeout"

    @property
    def watching(self) -> asyncio.Future[None]:
        """The armed watch on the task's row (re-armed after each change)."""
        return self._watching

    async def _cancelled(self) -> bool:
        """The task's row changed: watch again, then look whether it was cancelled."""
        self._store.unwatch_task(self._task.id, self._watching)
        self._watching = self._store.watch_task(self._task.id)
        task = await self._store.get(self._task.id)
        return task.state is TaskState.CANCELLED

    async def _renew(self) -> StopReason | float:
        """Renew the lease (a cancel made by another process shows up here too);
        returns when to renew next. A store that cannot be used now is tried
        again soon, for as long as the last renewed lease lasts."""
        loop = asyncio.get_running_loop()
        every = self._limits.lease_seconds / 3
        try:
            task = await self._store.renew_lease(self._task.id, self._lease)
        except LeaseLostError:
            return "lost"
        except StoreUnavailableError as exc:
            retry_at = loop.time() + min(every / 4, 1.0)
            if retry_at >= self._renewed + self._limits.lease_seconds:
                logger.warning("task %s: the lease could not be renewed: %s", self._task.id, exc)
                return "lost"
            logger.warning("task %s: renewing the lease failed, retrying: %s", self._task.id, exc)
            return retry_at
        if task.state is TaskState.CANCELLED:
            return "cancelled"
        self._renewed = loop.time()
        return self._renewed + every

    async def _settle(self, reason: StopReason | None, rest: list[str]) -> None:
        outcome = self._outcome(reason)
        try:
            await self._store.settle(self._task.id, self._lease, outcome, rest)
        except LeaseLostError:
            logger.warning("task %s: lease lost before its outcome was saved", self._task.id)
        except StoreUnavailableError as exc:
            logger.warning("task %s: outcome not saved: %s; %s", self._task.id, exc, AGAIN)

    def _outcome(self, reason: StopReason | None) -> RunOutcome:
        terminal = self._writer.terminal
        if isinstance(terminal, RunErrorEvent):
            if reason == "shutdown" or terminal.code == ErrorCode.STORE_UNAVAILABLE:
                return RunOutcome("released")  # runs again from its last checkpoint
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
            view = await read_thread(self._graph, self._thread_key)
            known = {m.id for m in view.messages}
            messages = [m for m in messages if m.get("id") not in known]
            if not {str(e.get("interruptId")) for e in resume} <= set(view.pending_interrupt_ids):
                resume = []  # the answers reached the checkpoint before a crash
        return RunAgentInput.model_validate(
            {
                "threadId": task.thread_id,
                "runId": self._run_id,
                "protocolVersion": PROTOCOL_VERSION,
                "parentRunId": task.parent_run_id,
                "state": {},
                "messages": messages,
                "tools": [],
                "context": [],
                "forwardedProps": {},
                "resume": resume or None,
            }
        )
