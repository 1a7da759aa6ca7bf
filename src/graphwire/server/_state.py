"""What a started app serves, kept in Starlette's lifespan state: the agents
(with the checkpointer the app opened), the task runner and the readiness
probes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request

from graphwire.server._agents import Agent
from graphwire.server._errors import ApiError
from graphwire.tasks import TaskRunner

STATE_AGENTS = "graphwire_agents"
STATE_TASKS = "graphwire_tasks"
STATE_PROBES = "graphwire_probes"


def served_agents(request: Request) -> Mapping[str, Agent]:
    """The agents the started app serves (its lifespan state)."""
    state = request.scope.get("state") or {}
    if STATE_AGENTS not in state:
        raise ApiError(503, "NOT_STARTED", "the app has not started: serve it with its lifespan")
    agents: Mapping[str, Agent] = state[STATE_AGENTS]
    return agents


def task_runner(request: Request) -> TaskRunner | None:
    """The started app's task runner (None: it runs no task engine)."""
    served_agents(request)  # started at all
    runner: TaskRunner | None = request.scope["state"][STATE_TASKS]
    return runner


def readiness_probes(request: Request) -> Sequence[Callable[[], Awaitable[None]]]:
    """What readiness asks: each store the app opened that can say whether it
    can be used now (each raises ``StoreUnavailableError`` when not)."""
    served_agents(request)
    probes: Sequence[Callable[[], Awaitable[None]]] = request.scope["state"][STATE_PROBES]
    return probes
