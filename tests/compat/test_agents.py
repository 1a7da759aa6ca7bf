"""Agents written the way the AG-UI dojo and CopilotKit write them (CopilotKitState,
``copilotkit_emit_state``, ``predict_state``, ``interrupt()`` with a steps
payload, subgraphs with two interrupts, ``interrupt_after``, dataclasses in
state), served unedited by ``graphwire serve`` on a scripted OpenAI-compatible
model, driven by the official ``@ag-ui/client``; each checked for what the page
would show."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.openai_server import Call, Reply, Text, last_user, scripted_openai, tool_results
from tests.conformance.harness import HERE as CONFORMANCE
from tests.conformance.harness import needs_node_client, run_node
from tests.processes import serve, wait_healthy_sync

pytestmark = needs_node_client

AGENTS = Path(__file__).parent / "agents"
STEPS = [{"description": "Dig hole"}, {"description": "Plant tree"}, {"description": "Water it"}]
RECIPE = {"title": "Pasta", "ingredients": ["flour", "eggs"]}


def chat(messages: list[dict[str, Any]]) -> Reply:
    results = tool_results(messages)
    if results:
        return Text(f"Done. {results[-1]}")
    asked = last_user(messages)
    if "weather" in asked:
        return Call("get_weather", {"location": "Paris"})
    if "background" in asked:
        return Call("change_background", {"background": "navy"})
    return Text("Hello from the agent")


def after_tool(text: str, call: Call) -> Any:
    return lambda messages: Text(text) if tool_results(messages) else call


SCRIPTS = {
    "compat-chat": chat,
    "compat-hitl": after_tool(
        "Running the steps you chose.", Call("plan_execution_steps", {"steps": STEPS})
    ),
    "compat-genui": after_tool(
        "All steps are done.", Call("generate_task_steps", {"steps": STEPS[:2]})
    ),
    "compat-subgraphs": lambda messages: Text("Your trip is planned:"),
    "compat-travel": lambda messages: Call("add_trip", {"destination": "Lisbon", "nights": 3}),
    "compat-recipe": lambda messages: Call("generate_recipe", {"recipe": RECIPE}),
    "compat-title": lambda messages: Text("Fresh Pasta Tonight"),
}

CONFIG = """
[agents]
chat = "{agents}/chat.py:graph"
hitl = "{agents}/hitl.py:graph"
hitl_legacy = {{ spec = "{agents}/hitl.py:graph", interrupt_channel = "legacy" }}
generative_ui = "{agents}/generative_ui.py:graph"
subgraphs = "{agents}/subgraphs.py:graph"
travel = "{agents}/travel.py:graph"
shared_state = "{agents}/shared_state.py:graph"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("compat")
    (home / "graphwire.toml").write_text(CONFIG.format(agents=AGENTS))
    with scripted_openai(SCRIPTS) as (openai_url, _):
        env = {"OPENAI_BASE_URL": openai_url, "OPENAI_API_KEY": "not-a-key"}
        process, url = serve([], home, env)
        try:
            wait_healthy_sync(url, process)
            yield url
        finally:
            process.terminate()
            _, err = process.communicate(timeout=30)
            assert "Traceback" not in err, err


async def scenario(name: str, url: str) -> dict[str, Any]:
    return await run_node(CONFORMANCE / "compat.mjs", name, url)


async def test_chat(server: str) -> None:
    result = await scenario("chat", server)
    assert result["error"] is None and result["outcome"] == {"type": "success"}
    assert result["texts"] == ["Hello from the agent"]


async def test_backend_tool(server: str) -> None:
    result = await scenario("backend_tool", server)
    assert result["error"] is None
    assert result["tools"] == ["get_weather"]
    assert result["results"] == ["It is sunny in Paris."]
    assert result["texts"] == ["Done. It is sunny in Paris."]


async def test_frontend_tool_from_copilotkit_actions(server: str) -> None:
    result = await scenario("frontend_tool", server)
    assert result["error"] is None
    assert len(result["pending"]) == 1 and result["tools"] == ["change_background"]
    assert result["texts"] == ["Done. navy it is"]


async def test_human_in_the_loop_with_predicted_steps(server: str) -> None:
    result = await scenario("hitl", server)
    assert result["error"] is None
    assert result["predicted"] == {"steps": STEPS}  # streamed from the tool call's arguments
    enabled = [{**step, "status": "enabled"} for step in STEPS]
    assert result["interrupt"]["steps"] == enabled
    assert result["outcome"] == {"type": "success"}
    assert result["state"]["steps"] == enabled[:2]
    assert result["texts"][-1] == "Running the steps you chose."


async def test_human_in_the_loop_on_the_legacy_channel(server: str) -> None:
    result = await scenario("hitl_legacy", server)
    assert result["error"] is None
    assert result["firstOutcome"] == {"type": "success"}
    assert result["steps"] == [{**step, "status": "enabled"} for step in STEPS]
    assert result["state"]["steps"] == [{"description": "Dig hole", "status": "enabled"}]
    assert result["texts"][-1] == "Running the steps you chose."


async def test_generative_ui_steps_arrive_as_they_complete(server: str) -> None:
    result = await scenario("generative_ui", server)
    assert result["error"] is None
    assert result["progress"][1:] == ["completed,pending", "completed,completed"]
    assert result["outcome"] == {"type": "success"}  # the node answered its own tool call
    assert [s["status"] for s in result["state"]["steps"]] == ["completed", "completed"]
    assert result["texts"][-1] == "All steps are done."


async def test_subgraphs_with_two_interrupts(server: str) -> None:
    result = await scenario("subgraphs", server)
    assert result["error"] is None
    assert sorted(a["message"] for a in result["asked"]) == ["Which flight?", "Which hotel?"]
    assert all(a["subagent"] for a in result["asked"])
    assert sorted(result["subagents"]) == ["flights_agent", "hotels_agent"]
    assert result["outcome"] == {"type": "success"}
    assert result["texts"][-1] == "Your trip is planned: ['flight: KLM', 'hotel: Hotel Zoe']"


async def test_interrupt_after_and_dataclasses_in_state(server: str) -> None:
    result = await scenario("travel", server)
    assert result["error"] is None
    assert result["paused"] == {"reason": "breakpoint", "node": "book_trip"}
    trip = {"destination": "Lisbon", "nights": 3, "booked": False}
    assert result["planned"]["itinerary"] == {"trips": [trip]}
    assert result["outcome"] == {"type": "success"}
    assert result["state"]["itinerary"] == {"trips": [{**trip, "booked": True}]}
    assert result["texts"][-1] == "Booked Lisbon (3 nights)."


async def test_shared_state_predicted_emitted_and_hidden(server: str) -> None:
    result = await scenario("shared_state", server)
    assert result["error"] is None
    assert result["predicted"] == {"recipe": RECIPE}
    assert result["toolStarts"] == ["generate_recipe"]
    assert not any("Pasta Tonight" in delta for delta in result["streamed"])  # hidden call
    assert result["state"] == {"recipe": RECIPE, "title": "Fresh Pasta Tonight"}
    assert json.dumps(result["outcome"]) == '{"type": "success"}'


def test_the_agents_import_without_graphwire() -> None:
    """They are plain LangGraph + CopilotKit modules: nothing of ours in them."""
    for path in AGENTS.glob("*.py"):
        assert "graphwire" not in path.read_text(), path
