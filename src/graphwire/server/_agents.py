"""The agents a server serves: a graph each, with a checkpointer guaranteed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel

from graphwire.protocol import InterruptChannel


@dataclass(frozen=True, slots=True)
class Agent:
    """A graph served under a name."""

    name: str
    graph: Pregel[Any, Any]
    description: str = ""
    interrupt_channel: InterruptChannel | None = None
    """Where this agent's interrupts go; None: the server's ``interrupt_channel``."""


def with_checkpointer(graph: Pregel[Any, Any], saver: BaseCheckpointSaver[Any]) -> Pregel[Any, Any]:
    """The graph itself if it has a checkpointer, else a copy using ``saver``.

    The user's graph object is never mutated.
    """
    if isinstance(graph.checkpointer, BaseCheckpointSaver):
        return graph
    return graph.copy(update={"checkpointer": saver})
