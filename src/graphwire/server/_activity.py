"""Delegated tasks as AG-UI activities in the delegating run's stream.

When a foreground run's agent starts a task, the caller sees an
ACTIVITY_SNAPSHOT (activityType ``graphwire.task``: taskId, title, state,
threadId, eventsUrl) right after the tool call, then an ACTIVITY_DELTA (JSON
Patch) whenever the task changes — for as long as that run's stream is open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

import jsonpatch
from ag_ui.core import ActivityDeltaEvent, ActivitySnapshotEvent

from graphwire.runs import RunLog, RunRecord
from graphwire.tasks import Task, TaskStore

logger = logging.getLogger("graphwire.server")

ACTIVITY_TYPE: Final = "graphwire.task"


def activity_content(task: Task, events_url: str) -> dict[str, Any]:
    content: dict[str, Any] = {
        "taskId": task.id,
        "title": task.title,
        "state": task.state.value,
        "threadId": task.thread_id,
        "eventsUrl": events_url,
    }
    if task.result is not None:
        content["result"] = task.result
    if task.error is not None:
        content["error"] = {"code": task.error.code, "message": task.error.message}
    return content


class TaskActivity:
    """Follows the tasks one foreground run starts; owns one watcher per task."""

    def __init__(self, store: TaskStore, events_url: Callable[[str], str]) -> None:
        self._store = store
        self._events_url = events_url
        self._log: RunLog | None = None
        self._watchers: set[asyncio.Task[None]] = set()

    def attach(self, record: RunRecord) -> None:
        """Write into this run's log; stop following when the run ends."""
        self._log = record.log
        if record.task is not None:
            record.task.add_done_callback(lambda _done: self.close())

    def started(self, task: Task) -> None:
        """The run's agent started ``task``: snapshot it now, follow its changes."""
        log = self._log
        if log is None or log.closed:
            return
        content = activity_content(task, self._events_url(task.id))
        log.put(
            ActivitySnapshotEvent(
                message_id=_message_id(task), activity_type=ACTIVITY_TYPE, content=content
            )
        )
        watcher = asyncio.create_task(self._follow(log, task, content))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._forget)

    def close(self) -> None:
        for watcher in list(self._watchers):
            watcher.cancel()

    def _forget(self, watcher: asyncio.Task[None]) -> None:
        self._watchers.discard(watcher)
        if not watcher.cancelled() and watcher.exception() is not None:
            logger.error("following a task's activity failed", exc_info=watcher.exception())

    async def _follow(self, log: RunLog, task: Task, content: dict[str, Any]) -> None:
        while not log.closed:
            changed = await self._store.wait_change(task.id, task.version, 60)
            if changed is None or log.closed:
                continue
            task, before = changed, content
            content = activity_content(task, self._events_url(task.id))
            patch = jsonpatch.make_patch(before, content).patch
            if patch:
                delta = {"messageId": _message_id(task), "activityType": ACTIVITY_TYPE}
                log.put(ActivityDeltaEvent.model_validate({**delta, "patch": patch}))


def _message_id(task: Task) -> str:
    return f"task-{task.id}"
