"""Loading agents from specs, and saying why when it fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.pregel import Pregel

from graphwire.host import SpecError, load_graph, parse_spec

AGENT = """
from langgraph.graph import START, MessagesState, StateGraph

def node(state):
    return {}

builder = StateGraph(MessagesState)
builder.add_node(node)
builder.add_edge(START, "node")
graph = builder.compile()

def make():
    return builder.compile()

not_a_graph = 42
"""


@pytest.fixture
def agent_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent.py"
    path.write_text(AGENT)
    return path


def test_file_spec_graph_and_factory(agent_file: Path) -> None:
    assert isinstance(load_graph(parse_spec(f"{agent_file}:graph")), Pregel)
    spec = parse_spec(f"mine={agent_file}:make")
    assert spec.name == "mine" and isinstance(load_graph(spec), Pregel)


def test_module_spec_defaults_its_name_to_the_attribute() -> None:
    spec = parse_spec("graphwire.demo:graph")
    assert spec.name == "graph" and isinstance(load_graph(spec), Pregel)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("no_colon", "is not a spec"),
        ("missing.py:graph", "does not exist"),
        ("no_such_module_xyz:graph", "no module named 'no_such_module_xyz'"),
        ("graphwire.demo:nothing", "has no attribute 'nothing'"),
    ],
)
def test_clear_errors(spec: str, says: str) -> None:
    with pytest.raises(SpecError, match=says):
        load_graph(parse_spec(spec))


def test_not_a_graph_and_import_error_with_traceback(agent_file: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a int, not a compiled LangGraph graph"):
        load_graph(parse_spec(f"{agent_file}:not_a_graph"))
    broken = tmp_path / "broken.py"
    broken.write_text("import json\n\ndef oops():\n    raise ValueError('boom')\n\noops()\n")
    with pytest.raises(SpecError) as caught:
        load_graph(parse_spec(f"{broken}:graph"))
    message = str(caught.value)
    assert "Traceback" in message and "ValueError: boom" in message and "line 6" in message
