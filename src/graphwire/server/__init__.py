"""Server: the Starlette app that serves graphs over AG-UI."""

from __future__ import annotations

from graphwire.server._agents import Agent, with_checkpointer
from graphwire.server._app import ServerOptions, create_app
from graphwire.server._build import Served, build

__all__ = ["Agent", "Served", "ServerOptions", "build", "create_app", "with_checkpointer"]
