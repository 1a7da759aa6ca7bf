"""Server: the Starlette app that serves graphs over AG-UI."""

from __future__ import annotations

from graphwire.server._agents import Agent, with_checkpointer
from graphwire.server._app import ServerOptions, create_app
from graphwire.server._build import RELOAD_ENV, Served, build, reload_app
from graphwire.server._uvicorn import (
    GraphwireServer,
    ServeError,
    bounded_protocol,
    serving_in_thread,
)

__all__ = [
    "RELOAD_ENV",
    "Agent",
    "GraphwireServer",
    "ServeError",
    "Served",
    "ServerOptions",
    "bounded_protocol",
    "build",
    "create_app",
    "reload_app",
    "serving_in_thread",
    "with_checkpointer",
]
