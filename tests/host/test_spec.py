"""Loading agents from specs, and saying why when it fails."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from langgraph.pregel import Pregel

from graphwire.host import SpecError, file_module_name, load_graph, parse_spec
from tests.agui_checks import final_state
from tests.processes import serve, wait_healthy
from tests.server.conftest import read_events, run_body

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


TYPED_AGENT = """
from dataclasses import dataclass, field

from pydantic import BaseModel
from langgraph.graph import START, StateGraph


@dataclass
class Visit:
    city: str


class Note(BaseModel):
    text: str


@dataclass
class State:
    visits: list[Visit] = field(default_factory=list)
    note: Note | None = None
    kinds: list[str] = field(default_factory=list)


def node(state: State) -> dict:
    kinds = [type(v).__name__ for v in state.visits] + [type(state.note).__name__]
    visits = [*state.visits, Visit(f"city-{len(state.visits)}")]
    return {"visits": visits, "note": Note(text=f"{len(visits)} visits"), "kinds": kinds}


builder = StateGraph(State)
builder.add_node(node)
builder.add_edge(START, "node")
graph = builder.compile()
"""


def test_a_file_spec_has_a_stable_module_name(tmp_path: Path) -> None:
    inside = tmp_path / "agents" / "travel.py"
    assert file_module_name(inside, cwd=tmp_path) == "agents.travel"
    elsewhere = file_module_name(Path("/elsewhere/my-agent.py"), cwd=tmp_path)
    assert elsewhere == file_module_name(Path("/elsewhere/my-agent.py"), cwd=tmp_path)
    assert elsewhere.startswith("graphwire_file_agent_")


async def test_state_classes_of_a_file_spec_survive_checkpoints_and_restarts(
    tmp_path: Path,
) -> None:
    # Served from outside its folder: only the name graphwire gives the module
    # lets the checkpointer's serializer find its classes.
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "typed_agent.py").write_text(TYPED_AGENT)
    (tmp_path / "run").mkdir()
    seen: list[list[str]] = []
    for _restart in range(2):
        process, url = serve([f"{tmp_path}/src/typed_agent.py:graph"], tmp_path / "run")
        try:
            await wait_healthy(url)
            async with httpx.AsyncClient(timeout=10) as client:
                for turn in range(2):
                    body = run_body(
                        thread="typed", run=f"r{len(seen)}-{turn}", messages=[], state={"kinds": []}
                    )
                    _, events = await read_events(client, "POST", f"{url}/agents/graph", json=body)
                    assert events[-1].type == "RUN_FINISHED", events[-1]
                    seen.append(final_state(events)["kinds"])
        finally:
            process.terminate()
            process.communicate(timeout=30)
    # Every visit and note read back from the checkpoint is the module's own class
    # again (not a dict), in the same process and after a restart.
    assert seen[-1] == ["Visit", "Visit", "Visit", "Note"]
    assert seen[1] == ["Visit", "Note"]


def test_a_file_spec_never_takes_another_modules_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "copy.py").write_text(AGENT)
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "agent.py").write_text(AGENT)
    taken = file_module_name(tmp_path / "copy.py", cwd=tmp_path)
    nested = file_module_name(tmp_path / "json" / "agent.py", cwd=tmp_path)
    assert taken.startswith("graphwire_file_copy_") and nested.startswith("graphwire_file_agent_")
    assert file_module_name(tmp_path / "fresh_agent.py", cwd=tmp_path) == "fresh_agent"
    monkeypatch.chdir(tmp_path)
    assert isinstance(load_graph(parse_spec("copy.py:graph")), Pregel)
    assert sys.modules["copy"].__file__ != str(tmp_path / "copy.py")
