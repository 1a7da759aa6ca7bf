"""The keyless demo agent that `graphwire serve` runs when given no SPEC."""

from __future__ import annotations

from graphwire.demo._graph import build_demo_graph

graph = build_demo_graph
"""The demo as a spec target: ``graphwire serve graphwire.demo:graph`` (a factory)."""

__all__ = ["build_demo_graph", "graph"]
