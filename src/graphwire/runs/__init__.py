"""Runs: drive one graph run through the protocol mapping."""

from __future__ import annotations

from graphwire.runs._driver import GraphRun, RunOptions, read_thread

__all__ = ["GraphRun", "RunOptions", "read_thread"]
