"""MemoryTaskStore: tasks and logs in this process — tests and throwaway use.

Each operation runs without an ``await`` between its read and its write, so on
one event loop it is atomic.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import graphwire.tasks.stores._model as m
from graphwire.tasks.stores._base import (
    WORK,
    BaseTaskStore,
    closing_frames,
    decode_cursor,
    encode_cursor,
    events_key,
)
from graphwire.tasks.stores._model import Lease, Task, TaskEvent, TaskPage, TaskQuery


@dataclass(frozen=True, slots=True)
class _ThreadClaim:
    run_key: str
    token: str
    owner: str
    expires_at: float


class MemoryTaskStore(BaseTaskStore):
    """A TaskStore that forgets everything when the process ends."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        super().__init__(*(() if clock is None else (clock,)))
        self._tasks: dict[str, Task] = {}
        self._events: dict[str, list[TaskEvent]] = {}
        self._claims: dict[str, _ThreadClaim] = {}

    async def aclose(self) -> None:
        """Nothing to release."""

    async def probe(self) -> None:
        """Memory can always be written."""

    async def _insert(self, task: Task) -> None:
        self._tasks[task.id] = task
        self._events[task.id] = []

    async def _apply(
        self, task_id: str, change: Callable[[Task], Task], frames: Sequence[str] = ()
    ) -> Task:
        task = change(self._task(task_id))
        self._tasks[task_id] = task
        self._extend(task_id, task.run_ids[-1] if task.run_ids else "", frames)
        return task

    def _task(self, task_id: str) -> Task:
        task = self._tasks.get(task_id)
        if task is None:
            raise m.TaskNotFoundError(f"no task {task_id!r}")
        return task

    async def get(self, task_id: str) -> Task:
        return self._task(task_id)

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        ordered = sorted(self._tasks.values(), key=lambda t: (t.created_at, t.id), reverse=True)
        if query.cursor is not None:
            after = decode_cursor(query.cursor)
            ordered = [t for t in ordered if (t.created_at, t.id) < after]
        matching = [t for t in ordered if _matches(t, query)]
        page = tuple(matching[: query.limit])
        more = len(matching) > query.limit
        return TaskPage(page, encode_cursor(page[-1]) if more and page else None)

    async def claim_next(
        self, owner: str, run_id: str, lease_seconds: float, agents: Collection[str] | None
    ) -> Task | None:
        ready = [
            t for t in self._tasks.values() if t.runnable and (agents is None or t.agent in agents)
        ]
        if not ready:
            return None
        task = min(ready, key=lambda t: (t.ready_at or 0.0, t.id))
        lease = Lease(owner, task.attempt + 1, lease_seconds)
        claimed = m.claim(task, lease, run_id, self._clock())
        self._tasks[task.id] = claimed
        self._fire(task.id)
        return claimed

    async def requeue_expired(self) -> list[Task]:
        now = self._clock()
        expired = [
            t
            for t in self._tasks.values()
            if t.lease_owner is not None and (t.lease_expires_at or 0.0) < now
        ]
        requeued = []
        for task in expired:
            self._close_cut_run(task)
            self._tasks[task.id] = m.expire(task, now)
            requeued.append(self._tasks[task.id])
            self._fire(task.id, events_key(task.id))
        if requeued:
            self._fire(WORK)
        return requeued

    def _close_cut_run(self, task: Task) -> None:
        log = self._events[task.id]
        run_id = task.run_ids[-1] if task.run_ids else ""
        frames = closing_frames([e.frame for e in log if e.run_id == run_id])
        self._extend(task.id, run_id, frames)

    async def claim_thread(
        self, thread_key: str, run_key: str, token: str, owner: str, lease_seconds: float
    ) -> bool:
        """See ``runs.ThreadClaims``."""
        now = self._clock()
        held = self._claims.get(thread_key)
        if held is not None and held.owner != owner and held.expires_at >= now:
            return False
        self._claims[thread_key] = _ThreadClaim(run_key, token, owner, now + lease_seconds)
        return True

    async def renew_threads(
        self, owner: str, tokens: Mapping[str, str], lease_seconds: float
    ) -> set[str]:
        """See ``runs.ThreadClaims``."""
        now, lost = self._clock(), set()
        for thread_key, token in tokens.items():
            held = self._claims.get(thread_key)
            if held is None or held.token != token or held.expires_at < now:
                lost.add(thread_key)
            else:
                self._claims[thread_key] = replace(held, expires_at=now + lease_seconds)
        return lost

    async def release_thread(self, thread_key: str, token: str) -> None:
        """See ``runs.ThreadClaims``."""
        held = self._claims.get(thread_key)
        if held is not None and held.token == token:
            del self._claims[thread_key]

    async def request_cancel(self, run_key: str) -> bool:
        """See ``runs.ThreadClaims`` (one process: its own runs)."""
        now = self._clock()
        if not any(c.run_key == run_key and c.expires_at >= now for c in self._claims.values()):
            return False
        self._cancel_asked(run_key)
        return True

    async def claimed_run(self, thread_key: str) -> str | None:
        """See ``runs.ThreadClaims``."""
        held = self._claims.get(thread_key)
        return held.run_key if held is not None and held.expires_at >= self._clock() else None

    async def append_events(
        self, task_id: str, lease: Lease, run_id: str, frames: Sequence[str]
    ) -> int:
        m.check_lease(self._task(task_id), lease)
        last = self._extend(task_id, run_id, frames)
        self._fire(events_key(task_id))
        return last

    def _extend(self, task_id: str, run_id: str, frames: Sequence[str]) -> int:
        log = self._events[task_id]
        last = len(log)
        log.extend([TaskEvent(last + i, run_id, f) for i, f in enumerate(frames, 1)])
        return len(log)

    async def last_seq(self, task_id: str) -> int:
        self._task(task_id)
        return len(self._events[task_id])

    async def read_events(
        self, task_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[TaskEvent]:
        self._task(task_id)
        log = self._events[task_id][max(after_seq, 0) :]
        return log if limit is None else log[:limit]


def _matches(task: Task, query: TaskQuery) -> bool:
    return (
        (query.states is None or task.state in query.states)
        and (query.agent is None or task.agent == query.agent)
        and (query.parent_task_id is None or task.parent_task_id == query.parent_task_id)
        and (query.parent_run_id is None or task.parent_run_id == query.parent_run_id)
        and (query.parent_thread_id is None or task.parent_thread_id == query.parent_thread_id)
        and (not query.scoped or task.principal == query.principal)
    )
