"""A foreground run's task tools reach the server's TaskRunner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from ag_ui.core import ToolCallResultEvent
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from graphwire.demo import build_demo_graph
from graphwire.server import Agent
from graphwire.tasks import MemoryTaskStore, TaskState, TaskStore
from tests.server.conftest import live_server, read_events, run_body

STORE = MemoryTaskStore()


@contextlib.asynccontextmanager
async def memory_saver() -> AsyncIterator[BaseCheckpointSaver[Any]]:
    yield InMemorySaver()


@contextlib.asynccontextmanager
async def memory_tasks() -> AsyncIterator[TaskStore]:
    yield STORE


async def test_the_demo_delegates_from_a_foreground_run() -> None:
    agents = [Agent("demo", build_demo_graph())]
    async with live_server(agents, None, checkpointer=memory_saver, tasks=memory_tasks) as url:
        body = run_body(thread="conv-1", run="run-1", text="deploy to prod in the background")
        async with httpx.AsyncClient(timeout=10) as client:
            _, events = await read_events(client, "POST", f"{url}/agents/demo", json=body)
        [result] = [e for e in events if isinstance(e, ToolCallResultEvent)]
        task_id = result.content.removeprefix("Launched async subagent. task_id: ")
        task = await STORE.get(task_id)
        assert (task.parent_run_id, task.parent_thread_id, task.parent_task_id) == (
            "run-1",
            "conv-1",
            None,
        )
        async with asyncio.timeout(10):
            while task.state is not TaskState.REVIEW_NEEDED:
                task = await STORE.wait_change(task_id, task.version, 10) or task
        assert task.interrupts[0]["message"] == "Deploy to prod?"
