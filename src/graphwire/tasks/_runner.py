"""TaskRunner: N workers that claim tasks from a TaskStore and run them.

Workers sleep until the store signals work (no polling); a sweeper requeues
tasks whose lease expired (their process died), at start and periodically.
Stopping the runner stops running tasks with RUN_ERROR ``WORKER_STOPPED`` and
hands them back to the queue, so the next start continues them from their
checkpoints (docs/adr/0005-task-engine.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from langgraph.pregel import Pregel
from langgraph.types import Durability

from graphwire.protocol import ErrorCode, StoreUnavailableError
from graphwire.runs import stop_within
from graphwire.tasks._context import TASKS_CONFIG_KEY, TASKS_STATE_KEY, TaskContext
from graphwire.tasks._execution import AGAIN, RunLimits, TaskExecution
from graphwire.tasks.stores import TaskStore
from graphwire.tasks.stores._model import (
    SETTLED,
    Task,
    TaskInputError,
    TaskPage,
    TaskQuery,
    TaskSpec,
    TaskState,
    TaskStateError,
)

logger = logging.getLogger("graphwire.tasks")

_ACTIVE = frozenset({TaskState.QUEUED, TaskState.ONGOING, TaskState.REVIEW_NEEDED})
_SUMMARY_LIMIT = 200
STORE_RETRY_SECONDS = 1.0
"""How long a worker waits before claiming again after the store could not be used."""


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    workers: int = 4
    lease_seconds: float = 30.0
    """A claim's lease; renewed every third of it while the task runs."""
    sweep_seconds: float | None = None
    """How often expired leases are requeued (default: half the lease)."""
    task_timeout: float | None = None
    """Longest one run of a task may take; then it fails with TASK_TIMEOUT."""
    concurrency: Mapping[str, int] = field(default_factory=dict)
    """Most tasks of an agent running at once in this runner (absent: no limit)."""
    durability: Durability = "async"
    """Checkpoints of a task's run: "async" after every step (a crash resumes at
    the last step), "exit" once when the run ends (faster; a crash reruns the run)."""


class TaskRunner:
    """Runs delegated tasks of the given agents. Use ``async with`` or start/aclose."""

    def __init__(
        self,
        store: TaskStore,
        agents: Mapping[str, Pregel[Any, Any]],
        options: RunnerOptions | None = None,
    ) -> None:
        self.store = store
        self._agents = dict(agents)
        self._options = options or RunnerOptions()
        self.owner = f"runner-{uuid.uuid4()}"
        self._running: Counter[str] = Counter()
        self._claim_lock = asyncio.Lock()
        self._workers: list[asyncio.Task[None]] = []
        self._stopped: asyncio.Future[None] | None = None
        self._freed: asyncio.Future[None]

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Requeue what a dead process left, then start the workers and the sweeper."""
        if self._stopped is not None:
            raise RuntimeError("the runner was already started")
        self._stopped = asyncio.get_running_loop().create_future()
        self._freed = asyncio.get_running_loop().create_future()
        await self._sweep_once()
        self._workers = [
            asyncio.create_task(self._work(), name=f"graphwire-worker-{n}")
            for n in range(self._options.workers)
        ]
        self._workers.append(asyncio.create_task(self._sweep(), name="graphwire-sweeper"))

    def stop(self) -> None:
        """Begin stopping (``aclose`` waits for it): claim nothing more; running
        tasks end with WORKER_STOPPED and go back to the queue."""
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop, and wait for the workers. One still at it after ``timeout``
        seconds (a store that cannot take the task's end) is cancelled: its
        task runs again once its lease ends, as after a crash."""
        self.stop()
        workers, self._workers = self._workers, []
        late = await stop_within(workers, timeout)
        if late:
            logger.error(
                "%d task workers did not stop within the shutdown's grace; their tasks"
                " run again once their leases end",
                len(late),
            )
        for worker in workers:
            if worker.done() and not worker.cancelled() and worker.exception() is not None:
                logger.error("task worker failed", exc_info=worker.exception())

    async def __aenter__(self) -> TaskRunner:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the API callers use -------------------------------------------------------------

    @property
    def agents(self) -> Sequence[str]:
        """The names of the agents this runner runs tasks for."""
        return tuple(self._agents)

    async def enqueue(self, spec: TaskSpec) -> Task:
        """Create a queued task; returns at once with its id."""
        if spec.agent not in self._agents:
            raise TaskInputError(f"unknown agent {spec.agent!r}; known: {sorted(self._agents)}")
        task = await self.store.create(spec)
        if spec.parent_task_id is not None:
            # A parent cancelled while this child was being created cancels it too.
            parent = await self.store.get(spec.parent_task_id)
            if parent.state is TaskState.CANCELLED:
                return await self.cancel(task.id)
        return task

    async def get(self, task_id: str) -> Task:
        """The task (``TaskNotFoundError`` when there is none)."""
        return await self.store.get(task_id)

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        """A page of the board, newest first, filtered by ``query``."""
        return await self.store.list_tasks(query)

    async def cancel(self, task_id: str) -> Task:
        """Cancel a queued, ongoing or in-review task, and every active task below it."""
        task = await self.store.cancel(task_id)
        async for child in self._children(task_id):
            await self._cancel_child(child)
        return task

    async def _cancel_child(self, child: Task) -> None:
        try:
            await self.cancel(child.id)
        except TaskStateError as exc:
            # It settled between the listing and the cancel: nothing to stop.
            logger.info("task %s not cancelled: %s", child.id, exc.message)

    async def _children(self, task_id: str) -> AsyncIterator[Task]:
        query = TaskQuery(parent_task_id=task_id, states=_ACTIVE, limit=200)
        while True:
            page = await self.store.list_tasks(query)
            for child in page.tasks:
                yield child
            if page.next_cursor is None:
                return
            query = TaskQuery(
                parent_task_id=task_id, states=_ACTIVE, limit=200, cursor=page.next_cursor
            )

    async def thread_summary(self, thread_id: str, principal: str | None) -> list[dict[str, str]]:
        """The tasks delegated from a thread, for its ``tasks`` state: id, title,
        state; newest first."""
        query = TaskQuery(
            parent_thread_id=thread_id, principal=principal, scoped=True, limit=_SUMMARY_LIMIT
        )
        return [t.summary() for t in (await self.store.list_tasks(query)).tasks]

    async def resume(
        self, task_id: str, entries: Sequence[Mapping[str, Any]], run_id: str | None = None
    ) -> Task:
        """Answer a task's interrupts (AG-UI resume entries); only from review_needed.
        ``run_id``: the id the resumed run takes (the client's, in the handshake)."""
        return await self.store.resume(task_id, entries, run_id)

    async def followup(self, task_id: str, message: str, run_id: str | None = None) -> Task:
        """Continue a done, failed or cancelled task's thread with a new message."""
        return await self.store.followup(task_id, message, run_id)

    async def retry(self, task_id: str) -> Task:
        """Queue a failed or cancelled task again; it continues from its checkpoint."""
        return await self.store.retry(task_id)

    async def wait_settled(self, task_id: str, timeout: float) -> Task:
        """The task once no run is pending (review_needed, done, failed, cancelled)."""
        async with asyncio.timeout(timeout):
            task = await self.store.get(task_id)
            while task.state not in SETTLED or task.lease_owner is not None:
                task = await self.store.wait_change(task_id, task.version, timeout) or task
        return task

    def context(
        self,
        agent: str,
        run_id: str,
        thread_id: str,
        *,
        task_id: str | None = None,
        principal: str | None = None,
        on_started: Callable[[Task], None] | None = None,
    ) -> dict[str, Any]:
        """``configurable`` entries that give a run's task tools this runner."""
        graph = self._agents.get(agent)
        tasks_key = graph is not None and TASKS_STATE_KEY in graph.channels
        context = TaskContext(
            self, agent, run_id, thread_id, task_id, principal, tasks_key, on_started
        )
        return {TASKS_CONFIG_KEY: context}

    # -- workers -------------------------------------------------------------------------

    async def _work(self) -> None:
        stopped = self._require_started()
        while not stopped.done():
            try:
                claimed = await self._next(stopped)
            except StoreUnavailableError as exc:
                logger.warning("claiming a task failed: %s; trying again", exc)
                await asyncio.wait({stopped}, timeout=STORE_RETRY_SECONDS)
                continue
            except Exception:
                # Any other failure too (a role that lost its rights, a table
                # gone): a worker that ended here would leave tasks queued for good.
                logger.exception("claiming a task failed; trying again")
                await asyncio.wait({stopped}, timeout=STORE_RETRY_SECONDS)
                continue
            if claimed is None:
                continue
            task, watching = claimed
            try:
                await self._execute(task, watching)
            except StoreUnavailableError as exc:
                logger.warning("task %s: %s; %s", task.id, exc, AGAIN)
            except Exception:
                # The lease runs out and the sweeper requeues the task.
                logger.exception("task %s: the worker failed running it", task.id)
            finally:
                self._running[task.agent] -= 1
                if self._options.concurrency:
                    self._wake_waiting()

    def _wake_waiting(self) -> None:
        """Workers waiting for work look again (a slot freed, or a sweep passed)."""
        freed, self._freed = self._freed, asyncio.get_running_loop().create_future()
        freed.set_result(None)

    async def _next(
        self, stopped: asyncio.Future[None]
    ) -> tuple[Task, asyncio.Future[None]] | None:
        with self.store.watch_work() as woken:
            async with self._claim_lock:
                # Stopping while this worker waited for the lock: claim nothing more.
                task = None if stopped.done() else await self._claim()
                # Armed before any other callback runs: no later change goes unseen.
                watching = None if task is None else self.store.watch_task(task.id)
            if task is None or watching is None:
                await asyncio.wait(
                    {woken, stopped, self._freed}, return_when=asyncio.FIRST_COMPLETED
                )
                return None
        return task, watching

    async def _claim(self) -> Task | None:
        limits = self._options.concurrency
        agents = None
        if limits:
            agents = [a for a in self._agents if self._running[a] < limits.get(a, 1 << 30)]
        task = await self.store.claim_next(
            self.owner, str(uuid.uuid4()), self._options.lease_seconds, agents
        )
        if task is not None:
            self._running[task.agent] += 1
        return task

    async def _execute(self, task: Task, watching: asyncio.Future[None]) -> None:
        opts = self._options
        limits = RunLimits(opts.lease_seconds, opts.task_timeout, opts.durability)
        execution = TaskExecution(
            self.store,
            task,
            self._agents[task.agent],
            limits,
            stopped=self._require_started(),
            watching=watching,
        )
        context = self.context(
            task.agent, task.run_ids[-1], task.thread_id, task_id=task.id, principal=task.principal
        )
        try:
            await execution.execute(context)
        finally:
            self.store.unwatch_task(task.id, execution.watching)

    async def _sweep(self) -> None:
        stopped = self._require_started()
        every = self._options.sweep_seconds or self._options.lease_seconds / 2
        while not stopped.done():
            await asyncio.wait({stopped}, timeout=every)
            if stopped.done():
                return
            try:
                await self._sweep_once()
            except StoreUnavailableError as exc:
                logger.warning("requeueing expired tasks failed: %s; trying again later", exc)
            except Exception:
                logger.exception("requeueing expired tasks failed; trying again later")
            # Tasks another process queued in a shared store raise no signal here.
            self._wake_waiting()

    async def _sweep_once(self) -> None:
        for task in await self.store.requeue_expired():
            logger.warning(
                "task %s: its worker's lease expired (%s); requeued",
                task.id,
                ErrorCode.WORKER_LOST,
            )

    def _require_started(self) -> asyncio.Future[None]:
        if self._stopped is None:
            raise RuntimeError("the runner is not started")
        return self._stopped
