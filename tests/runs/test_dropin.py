"""What agents written for ag-ui-langgraph and CopilotKit's Python SDK rely on:
callback custom events, CopilotKit's config metadata, the legacy interrupt
channel, static breakpoints and pendingToolCallIds — each on a real graph."""

from __future__ import annotations

import json
import operator
from typing import Annotated, Any

import pytest
from ag_ui.core import EventType, ResumeEntry, ToolMessage, UserMessage
from copilotkit.langgraph import (
    copilotkit_customize_config,
    copilotkit_emit_message,
    copilotkit_emit_state,
    copilotkit_emit_tool_call,
    copilotkit_exit,
)
from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.messages import AIMessage
from langchain_core.messages import ToolMessage as LcToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.pregel import Pregel
from langgraph.types import interrupt

from graphwire.protocol import MapperOptions
from graphwire.runs import GraphRun, RunOptions
from graphwire.testing import ScriptedChatModel
from tests.agui_checks import check_run, final_state, outline
from tests.graphs import Collected, call, collect, user_input


def of_type(events: list[Any], kind: EventType) -> list[Any]:
    return [e for e in events if e.type == kind]


def customs(events: list[Any]) -> list[tuple[str, Any]]:
    return [(e.name, e.value) for e in of_type(events, EventType.CUSTOM)]


def chain(state: Any, *nodes: Any, **compile_args: Any) -> Pregel[Any, Any]:
    """START -> each node in turn -> END, on an in-memory checkpointer."""
    builder = StateGraph(state)
    names = [node.__name__ for node in nodes]
    for node in nodes:
        builder.add_node(node.__name__, node)
    for before, after in zip([START, *names], [*names, END], strict=True):
        builder.add_edge(before, after)
    return builder.compile(checkpointer=InMemorySaver(), **compile_args)


def single(node: Any, state: Any = MessagesState) -> Pregel[Any, Any]:
    return chain(state, node)


async def run_with(graph: Pregel[Any, Any], run: Any, **mapper: Any) -> list[Any]:
    events = Collected()
    await GraphRun(graph, run, RunOptions(mapper=MapperOptions(**mapper))).run(events)
    check_run(events)
    return list(events)


# -- callback custom events ------------------------------------------------------


class Steps(MessagesState):
    steps: list[str]


async def test_copilotkit_emit_state_is_a_snapshot_mid_node_and_deltas_follow_it() -> None:
    async def node(state: Steps, config: RunnableConfig) -> dict[str, Any]:
        await copilotkit_emit_state(config, {"steps": ["draft"]})
        await copilotkit_emit_state(config, {"steps": ["draft", "review"]})
        return {"steps": ["draft", "review", "ship"]}

    events = await collect(single(node, Steps), user_input())
    check_run(events)
    snapshots = [e.snapshot for e in of_type(events, EventType.STATE_SNAPSHOT)]
    assert snapshots == [{}, {"steps": ["draft"]}, {"steps": ["draft", "review"]}]
    assert outline(events).index("STEP_STARTED 'node'") < outline(events).index("STATE_SNAPSHOT", 2)
    assert final_state(events) == {"steps": ["draft", "review", "ship"]}


async def test_emitted_messages_tool_calls_and_exit_become_their_events() -> None:
    async def node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        await copilotkit_emit_message(config, "Working on it")
        await copilotkit_emit_tool_call(config, name="show_card", args={"title": "Plan"})
        await copilotkit_exit(config)
        return {}

    events = await collect(single(node), user_input())
    check_run(events)
    texts = of_type(events, EventType.TEXT_MESSAGE_CONTENT)
    assert [t.delta for t in texts] == ["Working on it"]
    start = of_type(events, EventType.TOOL_CALL_START)[0]
    args = of_type(events, EventType.TOOL_CALL_ARGS)
    assert start.tool_call_name == "show_card" and json.loads(args[0].delta) == {"title": "Plan"}
    assert customs(events) == [("Exit", True)]


async def test_dispatched_events_from_async_sync_and_subgraph_nodes_arrive_in_order() -> None:
    async def first(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        await adispatch_custom_event("progress", {"done": 1}, config=config)
        return {}

    def second(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        dispatch_custom_event("progress", {"done": 2}, config=config)
        return {}

    inner = StateGraph(MessagesState)
    inner.add_node("second", second)
    inner.add_edge(START, "second")
    builder = StateGraph(MessagesState)
    builder.add_node("first", first)
    builder.add_node("inner", inner.compile())
    builder.add_edge(START, "first")
    builder.add_edge("first", "inner")
    events = await collect(builder.compile(checkpointer=InMemorySaver()), user_input())
    check_run(events)
    progress = [e for e in of_type(events, EventType.CUSTOM) if e.name == "progress"]
    assert [(e.value, e.subagent_run_id is not None) for e in progress] == [
        ({"done": 1}, False),
        ({"done": 2}, True),
    ]


# -- CopilotKit's config metadata --------------------------------------------------


class Recipe(MessagesState):
    recipe: dict[str, Any]


def recipe_graph(model: ScriptedChatModel, **customize: Any) -> Pregel[Any, Any]:
    async def chat(state: Recipe, config: RunnableConfig) -> dict[str, Any]:
        config = copilotkit_customize_config(config, **customize) if customize else config
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    return single(chat, Recipe)


async def test_predict_state_is_announced_before_its_tool_call() -> None:
    recipe = {"title": "Soup"}
    model = ScriptedChatModel(
        script=[AIMessage(id="m1", content="", tool_calls=[call("write_recipe", recipe, "c1")])]
    )

    async def chat(state: Recipe, config: RunnableConfig) -> dict[str, Any]:
        config["metadata"]["predict_state"] = [
            {"state_key": "recipe", "tool": "write_recipe", "tool_argument": "recipe"}
        ]
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    events = await collect(single(chat, Recipe), user_input())
    check_run(events)
    lines = outline(events)
    assert lines.index("CUSTOM 'PredictState'") + 1 == lines.index("TOOL_CALL_START 'write_recipe'")
    assert customs(events) == [
        (
            "PredictState",
            [{"state_key": "recipe", "tool": "write_recipe", "tool_argument": "recipe"}],
        )
    ]


async def test_copilotkit_emit_intermediate_state_predicts_too() -> None:
    model = ScriptedChatModel(
        script=[AIMessage(id="m1", content="", tool_calls=[call("write_recipe", {}, "c1")])]
    )
    entries = [{"state_key": "recipe", "tool": "write_recipe", "tool_argument": "recipe"}]
    events = await collect(recipe_graph(model, emit_intermediate_state=entries), user_input())
    assert customs(events) == [("PredictState", entries)]


@pytest.mark.parametrize(
    ("customize", "shown"),
    [
        ({"emit_messages": False}, {"TOOL_CALL_START 'lookup'"}),
        ({"emit_tool_calls": False}, {"TEXT_MESSAGE_CONTENT 'thinking'"}),
        ({"emit_messages": False, "emit_tool_calls": False}, set()),
    ],
)
async def test_customize_config_hides_internal_model_output(
    customize: dict[str, Any], shown: set[str]
) -> None:
    reply = AIMessage(id="m1", content="thinking", tool_calls=[call("lookup", {}, "c1")])
    events = await collect(
        recipe_graph(ScriptedChatModel(script=[reply]), **customize), user_input()
    )
    check_run(events)
    visible = {
        line
        for line in outline(events)
        if line.startswith(("TEXT_MESSAGE_CONTENT", "TOOL_CALL_START", "REASONING"))
    }
    assert visible == shown


# -- the legacy interrupt channel -------------------------------------------------------


def approval_graph() -> Pregel[Any, Any]:
    def ask(state: Steps) -> dict[str, Any]:
        answer = interrupt({"steps": [{"description": "deploy", "status": "enabled"}]})
        return {"steps": [f"answer: {answer}"]}

    return single(ask, Steps)


@pytest.mark.parametrize("channel", ["standard", "legacy", "both"])
async def test_interrupt_channels(channel: str) -> None:
    events = await run_with(approval_graph(), user_input(), interrupt_channel=channel)
    legacy = [value for name, value in customs(events) if name == "on_interrupt"]
    outcome = events[-1].outcome
    payload = {"steps": [{"description": "deploy", "status": "enabled"}]}
    if channel == "standard":
        assert legacy == [] and outcome.type == "interrupt"
    if channel in ("legacy", "both"):
        assert [json.loads(value) for value in legacy] == [payload]
    if channel == "legacy":
        assert outcome.type == "success"
    if channel == "both":
        assert outcome.type == "interrupt"
        assert outcome.interrupts[0].metadata == {"payload": payload}


@pytest.mark.parametrize("channel", ["standard", "legacy", "both"])
@pytest.mark.parametrize("with_event", [True, False])
async def test_legacy_resume_works_in_every_channel(channel: str, with_event: bool) -> None:
    graph = approval_graph()
    first = await run_with(graph, user_input(), interrupt_channel=channel)
    command: dict[str, Any] = {"resume": "approved"}
    if with_event:
        command["interruptEvent"] = json.dumps({"steps": []})
    second = user_input(run="r2", forwarded_props={"command": command})
    events = await run_with(graph, second, interrupt_channel=channel)
    assert first[-1].type == "RUN_FINISHED"
    assert events[-1].outcome.type == "success"
    assert final_state(events) == {"steps": ["answer: approved"]}


# -- static breakpoints -----------------------------------------------------------------


class Trail(MessagesState):
    trail: Annotated[list[str], operator.add]


def breakpoint_graph(**compile_args: Any) -> Pregel[Any, Any]:
    def plan(state: Trail) -> dict[str, Any]:
        return {"trail": ["plan"]}

    def act(state: Trail) -> dict[str, Any]:
        return {"trail": ["act"]}

    return chain(Trail, plan, act, **compile_args)


@pytest.mark.parametrize(
    "compile_args", [{"interrupt_before": ["act"]}, {"interrupt_after": ["plan"]}]
)
async def test_a_static_breakpoint_pauses_with_an_interrupt_and_resumes_at_the_node(
    compile_args: dict[str, Any],
) -> None:
    graph = breakpoint_graph(**compile_args)
    first = await collect(graph, user_input())
    check_run(first)
    outcome = first[-1].outcome
    assert outcome.type == "interrupt"
    [paused] = outcome.interrupts
    assert paused.reason == "breakpoint" and paused.metadata["payload"]["node"] == "act"
    resume = [ResumeEntry(interrupt_id=paused.id, status="resolved", payload=None)]
    second = await collect(graph, user_input(run="r2", resume=resume))
    check_run(second)
    assert second[-1].outcome.type == "success"
    assert final_state(second)["trail"] == ["plan", "act"]  # plan did not run again


@pytest.mark.parametrize("how", ["tool_result", "node_name", "new_message"])
async def test_any_next_run_continues_from_a_breakpoint(how: str) -> None:
    graph = breakpoint_graph(interrupt_before=["act"])
    await collect(graph, user_input())
    messages: list[Any] = [UserMessage(id="u1", content="hi")]
    props: dict[str, Any] = {}
    if how == "tool_result":
        messages.append(ToolMessage(id="t1", role="tool", tool_call_id="c1", content="ok"))
    elif how == "node_name":
        props = {"nodeName": "plan"}
    else:
        messages.append(UserMessage(id="u2", content="go on"))
    run = user_input(run="r2", forwarded_props=props).model_copy(update={"messages": messages})
    second = await collect(graph, run)
    check_run(second)
    assert second[-1].outcome.type == "success"
    assert final_state(second)["trail"] == ["plan", "act"]


# -- pendingToolCallIds --------------------------------------------------------------


async def test_pending_tool_calls_are_those_still_waiting_for_the_client() -> None:
    backend = AIMessage(id="m1", content="", tool_calls=[call("lookup", {}, "back-1")])
    frontend = AIMessage(id="m2", content="", tool_calls=[call("confirm", {}, "front-1")])
    model = ScriptedChatModel(script=[backend, frontend])

    async def research(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        reply = await model.ainvoke(state["messages"], config)
        # A node that runs its own tools and writes the answers as dicts.
        answers = [
            {"role": "tool", "content": "found", "tool_call_id": c["id"]} for c in reply.tool_calls
        ]
        return {"messages": [reply, *answers]}

    async def ask(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    events = await collect(chain(MessagesState, research, ask), user_input())
    check_run(events)
    assert events[-1].outcome.pending_tool_call_ids == ["front-1"]
    snapshot = of_type(events, EventType.MESSAGES_SNAPSHOT)[-1].messages
    assert any(m.role == "tool" and m.tool_call_id == "back-1" for m in snapshot)


async def test_answered_tool_messages_clear_pending_calls() -> None:
    def node(state: MessagesState) -> dict[str, Any]:
        calls = [call("confirm", {}, "c1")]
        return {
            "messages": [
                AIMessage(id="m1", content="", tool_calls=calls),
                LcToolMessage(content="yes", tool_call_id="c1", id="t1"),
            ]
        }

    events = await collect(single(node), user_input())
    assert events[-1].outcome.pending_tool_call_ids is None


async def test_a_client_before_1_0_gets_a_success_outcome_without_pending_calls() -> None:
    def node(state: MessagesState) -> dict[str, Any]:
        return {
            "messages": [AIMessage(id="m1", content="", tool_calls=[call("confirm", {}, "c1")])]
        }

    declared = await collect(single(node), user_input())
    undeclared = await collect(single(node), user_input(protocol_version=None))
    assert declared[-1].outcome.pending_tool_call_ids == ["c1"]
    assert undeclared[-1].outcome.model_dump(exclude_none=True) == {"type": "success"}


# -- what the first users' trials found ----------------------------------------------


class Keyed(MessagesState):
    k: str


async def test_an_edit_keeps_the_state_the_client_set() -> None:
    def reply(state: Keyed) -> dict[str, Any]:
        return {"messages": [AIMessage(content=f"k={state.get('k')}")]}

    graph = chain(Keyed, reply)
    await collect(graph, user_input("first", state={"k": "B"}))
    # The user edits their message; the client still holds (and sends) k=B.
    events = await collect(graph, user_input("first, edited", run="r2", state={"k": "B"}))
    assert final_state(events)["k"] == "B"


async def test_a_legacy_resume_at_a_breakpoint_never_answers_the_next_interrupt() -> None:
    def plan(state: Trail) -> dict[str, Any]:
        return {"trail": ["plan"], "messages": [AIMessage(id="a1", content="planned")]}

    def act(state: Trail) -> dict[str, Any]:
        return {"trail": [f"act: {interrupt('really?')}"]}

    graph = chain(Trail, plan, act, interrupt_before=["act"])
    first = await collect(graph, user_input())
    assert first[-1].outcome.interrupts[0].reason == "breakpoint"
    # Only part of the history comes back, with ag-ui-langgraph's resume.
    legacy = user_input(run="r2", forwarded_props={"command": {"resume": "approved"}})
    second = await collect(graph, legacy)
    check_run(second)
    [asked] = second[-1].outcome.interrupts
    assert asked.message == "really?"  # act's own question is asked, not answered


class Tooled(MessagesState):
    tools: list[Any]
    answer: str


async def test_a_resume_can_be_retried_after_the_resumed_run_failed() -> None:
    attempts: list[int] = []

    def ask(state: Tooled) -> dict[str, Any]:
        answer = interrupt("approve?")
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("provider down")
        return {"answer": str(answer)}

    graph = chain(Tooled, ask)
    first = await collect(graph, user_input())
    [pending] = first[-1].outcome.interrupts
    resume = [ResumeEntry(interrupt_id=pending.id, status="resolved", payload="yes")]
    failed = await collect(graph, user_input(run="r2", resume=resume))
    retried = await collect(graph, user_input(run="r3", resume=resume))
    assert failed[-1].type == "RUN_ERROR"
    check_run(retried)
    assert retried[-1].outcome.type == "success" and final_state(retried)["answer"] == "yes"


async def test_a_client_before_1_0_gets_no_subagent_events() -> None:
    def choose(state: MessagesState) -> dict[str, Any]:
        interrupt({"message": "which?"})
        return {}

    inner = chain(MessagesState, choose)
    inner.checkpointer = None

    def outer_graph() -> Pregel[Any, Any]:
        builder = StateGraph(MessagesState)
        builder.add_node("picker", inner)
        builder.add_edge(START, "picker")
        return builder.compile(checkpointer=InMemorySaver())

    declared = await collect(outer_graph(), user_input())
    undeclared = await collect(outer_graph(), user_input(protocol_version=None))
    check_run(undeclared)
    assert any(e.type == "SUBAGENT_STARTED" for e in declared)
    assert not any(e.type.startswith("SUBAGENT") for e in undeclared)
    assert not any(getattr(e, "subagent_run_id", None) for e in undeclared)
    assert undeclared[-1].outcome.interrupts[0].subagent_run_id is None


class StrictModel(ScriptedChatModel):
    """Refuses a conversation with unanswered tool calls, as OpenAI does."""

    def reply(self, messages: list[Any]) -> AIMessage | str:
        calls = {c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls}
        answered = {m.tool_call_id for m in messages if isinstance(m, LcToolMessage)}
        if calls - answered:
            raise ValueError("tool_calls must be followed by tool messages")
        return super().reply(messages)


async def test_a_thread_goes_on_after_the_user_ignores_a_frontend_tool() -> None:
    asking = AIMessage(id="m1", content="", tool_calls=[call("confirm", {}, "c1")])
    model = StrictModel(script=[asking, "Fine, something else then."])

    async def agent(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    graph = single(agent)
    first = await collect(graph, user_input())
    assert first[-1].outcome.pending_tool_call_ids == ["c1"]
    second = await collect(graph, user_input("never mind", run="r2", msg_id="u2"))
    check_run(second)
    assert second[-1].outcome.type == "success"
    texts = [e.delta for e in of_type(second, EventType.TEXT_MESSAGE_CONTENT)]
    assert "".join(texts) == "Fine, something else then."


async def test_a_streamed_call_the_node_drops_is_not_pending() -> None:
    routing = AIMessage(id="m1", content="", tool_calls=[call("route_to", {}, "r-1")])
    model = ScriptedChatModel(script=[routing])

    async def supervisor(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        await model.ainvoke(state["messages"], config)  # streamed, then not kept
        return {"messages": [AIMessage(id="m2", content="Routed.")]}

    events = await collect(single(supervisor), user_input())
    assert any(e.type == "TOOL_CALL_START" for e in events)
    assert events[-1].outcome.pending_tool_call_ids is None


async def test_a_retried_resume_gives_the_node_the_new_answer() -> None:
    """The node failed on the first answer, after interrupt() returned it: the
    retry's answer is the one interrupt() returns (LangGraph keeps the first as
    the task's pending write)."""

    def ask(state: Tooled) -> dict[str, Any]:
        answer = interrupt("approve?")
        if answer == "bad":
            raise KeyError("airline")
        return {"answer": str(answer)}

    graph = chain(Tooled, ask)
    first = await collect(graph, user_input())
    [pending] = first[-1].outcome.interrupts

    def answer(value: str, run: str) -> Any:
        return user_input(
            run=run, resume=[ResumeEntry(interrupt_id=pending.id, payload=value, status="resolved")]
        )

    failed = await collect(graph, answer("bad", "r2"))
    retried = await collect(graph, answer("good", "r3"))
    assert failed[-1].type == "RUN_ERROR"
    check_run(retried)
    assert retried[-1].outcome.type == "success" and final_state(retried)["answer"] == "good"
