"""Golden AG-UI sequences from real graphs on the scripted fake model."""

from __future__ import annotations

from typing import Any

import pytest
from ag_ui.core import (
    AssistantMessage,
    EventType,
    FunctionCall,
    ResumeEntry,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.messages import ToolMessage as ToolMessageLC
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt

from graphwire.testing import ScriptedChatModel
from tests.agui_checks import check_run, final_state, outline
from tests.graphs import agent_graph, call, collect, get_weather, hand_built, user_input

TEXT = ["TEXT_MESSAGE_START 'assistant'"]


def of_type(events: list[Any], kind: EventType) -> list[Any]:
    return [e for e in events if e.type == kind]


def snapshot_ids(events: list[Any]) -> list[str]:
    return [m.id for m in of_type(events, EventType.MESSAGES_SNAPSHOT)[-1].messages]


async def test_streamed_chat() -> None:
    events = await collect(agent_graph(["Hello there"]), user_input())
    check_run(events)
    assert outline(events) == [
        "RUN_STARTED",
        "STATE_SNAPSHOT",
        "STEP_STARTED 'agent'",
        *TEXT,
        "TEXT_MESSAGE_CONTENT 'Hello'",
        "TEXT_MESSAGE_CONTENT ' '",
        "TEXT_MESSAGE_CONTENT 'there'",
        "TEXT_MESSAGE_END",
        "STEP_FINISHED 'agent'",
        "MESSAGES_SNAPSHOT",
        "RUN_FINISHED success",
    ]
    start = of_type(events, EventType.TEXT_MESSAGE_START)[0]
    assert snapshot_ids(events) == ["u1", start.message_id]


def node_graph(*nodes: Any) -> Any:
    builder = StateGraph(MessagesState)
    previous = START
    for node in nodes:
        builder.add_node(node)
        builder.add_edge(previous, node.__name__)
        previous = node.__name__
    return builder.compile(checkpointer=InMemorySaver())


async def test_non_streamed_node_message_is_sent_exactly_once() -> None:
    def reply(state: MessagesState) -> dict[str, Any]:
        return {"messages": [hand_built("Built by hand")]}

    events = await collect(node_graph(reply), user_input())
    check_run(events)
    assert [e.delta for e in of_type(events, EventType.TEXT_MESSAGE_CONTENT)] == ["Built by hand"]
    assert of_type(events, EventType.TEXT_MESSAGE_START)[0].message_id == "hb1"
    assert snapshot_ids(events) == ["u1", "hb1"]


async def test_non_streaming_model_text_and_whole_tool_call() -> None:
    script = [
        AIMessage(content="", tool_calls=[call("get_weather", {"city": "Oslo"}, "c1")]),
        "Cold.",
    ]
    events = await collect(agent_graph(script, disable_streaming=True), user_input())
    check_run(events)
    tool_part = outline(events)[3:7]
    assert tool_part == [
        "TOOL_CALL_START 'get_weather'",
        'TOOL_CALL_ARGS \'{"city": "Oslo"}\'',
        "TOOL_CALL_END",
        "STEP_FINISHED 'agent'",
    ]
    assert [e.delta for e in of_type(events, EventType.TEXT_MESSAGE_CONTENT)] == ["Cold."]


async def test_tool_call_and_result() -> None:
    script = [
        AIMessage(content="", tool_calls=[call("get_weather", {"city": "Paris"}, "c1")]),
        "Sunny.",
    ]
    events = await collect(agent_graph(script), user_input())
    check_run(events)
    start = of_type(events, EventType.TOOL_CALL_START)[0]
    assert (start.tool_call_id, start.parent_message_id) == ("c1", "ai-1")
    args = "".join(e.delta for e in of_type(events, EventType.TOOL_CALL_ARGS))
    assert args == '{"city": "Paris"}'
    result = of_type(events, EventType.TOOL_CALL_RESULT)[0]
    assert (result.tool_call_id, result.content) == ("c1", "sunny in Paris")
    snapshot = of_type(events, EventType.MESSAGES_SNAPSHOT)[-1].messages
    assert result.message_id == snapshot[2].id
    assert snapshot[1].tool_calls[0].id == "c1"


async def test_parallel_tool_calls_are_kept_apart() -> None:
    calls = [
        call("get_weather", {"city": "Paris"}, "c1"),
        call("get_weather", {"city": "Rome"}, "c2"),
    ]
    events = await collect(
        agent_graph([AIMessage(content="", tool_calls=calls), "Ok."]), user_input()
    )
    check_run(events)
    args: dict[str, str] = {}
    for event in of_type(events, EventType.TOOL_CALL_ARGS):
        args[event.tool_call_id] = args.get(event.tool_call_id, "") + event.delta
    assert args == {"c1": '{"city": "Paris"}', "c2": '{"city": "Rome"}'}
    kinds = [e.type for e in events if e.type.value.startswith("TOOL_CALL")]
    assert kinds.index(EventType.TOOL_CALL_START, 1) < kinds.index(EventType.TOOL_CALL_END)
    results = {e.tool_call_id: e.content for e in of_type(events, EventType.TOOL_CALL_RESULT)}
    assert results == {"c1": "sunny in Paris", "c2": "sunny in Rome"}


async def test_frontend_tool_is_left_pending_then_answered() -> None:
    model = ScriptedChatModel(
        script=[
            AIMessage(content="", tool_calls=[call("change_color", {"c": "red"}, "f1")]),
            "Done.",
        ]
    )

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = node_graph(agent)
    first = await collect(graph, user_input("make it red"))
    check_run(first)
    assert first[-1].outcome.pending_tool_call_ids == ["f1"]
    answered = user_input(run="r2")
    answered.messages = [
        UserMessage(id="u1", content="make it red"),
        AssistantMessage(
            id="ai-1",
            tool_calls=[
                ToolCall(
                    id="f1", function=FunctionCall(name="change_color", arguments='{"c": "red"}')
                )
            ],
        ),
        ToolMessage(id="tm1", tool_call_id="f1", content="color changed"),
    ]
    second = await collect(graph, answered)
    check_run(second)
    assert snapshot_ids(second) == ["u1", "ai-1", "tm1", "ai-2"]
    assert second[-1].outcome.pending_tool_call_ids is None


async def test_reasoning_blocks_and_signature() -> None:
    message = AIMessage(
        content=[
            {"type": "reasoning", "reasoning": "Think it over", "signature": "sig-123"},
            {"type": "text", "text": "Answer."},
        ]
    )
    events = await collect(agent_graph([message]), user_input())
    check_run(events)
    names = outline(events)
    assert names[3:11] == [
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT 'Think'",
        "REASONING_MESSAGE_CONTENT ' '",
        "REASONING_MESSAGE_CONTENT 'it'",
        "REASONING_MESSAGE_CONTENT ' '",
        "REASONING_MESSAGE_CONTENT 'over'",
        "REASONING_ENCRYPTED_VALUE",
    ]
    encrypted = of_type(events, EventType.REASONING_ENCRYPTED_VALUE)[0]
    reasoning = of_type(events, EventType.REASONING_START)[0]
    assert (encrypted.encrypted_value, encrypted.entity_id) == ("sig-123", reasoning.message_id)
    assert snapshot_ids(events) == ["u1", reasoning.message_id, "ai-1"]


async def test_reasoning_content_kwarg() -> None:
    message = AIMessage(content="Yes.", additional_kwargs={"reasoning_content": "Hmm"})
    events = await collect(agent_graph([message], disable_streaming=True), user_input())
    check_run(events)
    assert [e.delta for e in of_type(events, EventType.REASONING_MESSAGE_CONTENT)] == ["Hmm"]


async def test_interrupt_in_a_node_and_resume() -> None:
    seen: list[Any] = []

    def approve(state: MessagesState) -> dict[str, Any]:
        answer = interrupt({"message": "Approve the plan?", "reason": "approval"})
        seen.append(answer)
        return {"messages": [hand_built(f"You said {answer}")]}

    graph = node_graph(approve)
    first = await collect(graph, user_input())
    check_run(first)
    assert outline(first)[-3:] == ["STATE_SNAPSHOT", "MESSAGES_SNAPSHOT", "RUN_FINISHED interrupt"]
    [pending] = first[-1].outcome.interrupts
    assert (pending.reason, pending.message) == ("approval", "Approve the plan?")
    assert pending.metadata == {"payload": {"message": "Approve the plan?", "reason": "approval"}}
    state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
    assert pending.id == state.interrupts[0].id

    resume = user_input(run="r2")
    resume.resume = [ResumeEntry(interrupt_id=pending.id, status="resolved", payload="yes")]
    second = await collect(graph, resume)
    check_run(second)
    assert seen == ["yes"]
    assert second[-1].outcome.type == "success"


async def test_interrupt_in_a_tool_names_its_tool_call() -> None:
    @tool
    def delete_file(path: str) -> str:
        """Delete a file after approval."""
        return f"deleted {path}" if interrupt({"question": f"Delete {path}?"}) else "kept"

    script = [
        AIMessage(content="", tool_calls=[call("delete_file", {"path": "a.txt"}, "d1")]),
        "Done.",
    ]
    graph = agent_graph(script, tools=[delete_file])
    first = await collect(graph, user_input())
    check_run(first)
    [pending] = first[-1].outcome.interrupts
    assert (pending.tool_call_id, pending.reason, pending.message) == (
        "d1",
        "tool_approval",
        "Delete a.txt?",
    )
    resume = user_input(run="r2")
    resume.resume = [ResumeEntry(interrupt_id=pending.id, status="resolved", payload=True)]
    second = await collect(graph, resume)
    check_run(second)
    assert of_type(second, EventType.TOOL_CALL_RESULT)[0].content == "deleted a.txt"


def two_question_graph(answers: dict[str, Any]) -> Any:
    def ask_a(state: MessagesState) -> dict[str, Any]:
        answers["a"] = interrupt({"message": "A?"})
        return {}

    def ask_b(state: MessagesState) -> dict[str, Any]:
        answers["b"] = interrupt({"message": "B?"})
        return {}

    builder = StateGraph(MessagesState)
    builder.add_node(ask_a)
    builder.add_node(ask_b)
    builder.add_edge(START, "ask_a")
    builder.add_edge(START, "ask_b")
    return builder.compile(checkpointer=InMemorySaver())


async def test_two_interrupts_resumed_by_id() -> None:
    answers: dict[str, Any] = {}
    graph = two_question_graph(answers)
    first = await collect(graph, user_input())
    check_run(first)
    interrupts = {i.message: i.id for i in first[-1].outcome.interrupts}
    assert set(interrupts) == {"A?", "B?"}
    resume = user_input(run="r2")
    resume.resume = [
        ResumeEntry(interrupt_id=interrupts["B?"], status="resolved", payload="bee"),
        ResumeEntry(interrupt_id=interrupts["A?"], status="cancelled"),
    ]
    second = await collect(graph, resume)
    check_run(second)
    assert second[-1].outcome.type == "success"
    assert answers == {"a": {"status": "cancelled", "payload": None}, "b": "bee"}


async def test_error_before_any_message() -> None:
    events = await collect(agent_graph([RuntimeError("provider down")]), user_input())
    check_run(events)
    assert outline(events)[-2:] == ["STEP_FINISHED 'agent'", "RUN_ERROR 'AGENT_ERROR'"]
    assert "provider down" not in events[-1].message


async def test_error_in_the_middle_of_a_message() -> None:
    events = await collect(agent_graph(["one two three"], fail_after_tokens=2), user_input())
    check_run(events)
    assert outline(events)[3:] == [
        *TEXT,
        "TEXT_MESSAGE_CONTENT 'one'",
        "TEXT_MESSAGE_CONTENT ' '",
        "STEP_FINISHED 'agent'",
        "TEXT_MESSAGE_END",
        "RUN_ERROR 'AGENT_ERROR'",
    ]


async def test_subgraph_output_is_attributed_to_its_subagent() -> None:
    model = ScriptedChatModel(script=["From inside"])

    def inner(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    sub = StateGraph(MessagesState)
    sub.add_node(inner)
    sub.add_edge(START, "inner")
    builder = StateGraph(MessagesState)
    builder.add_node("research", sub.compile())
    builder.add_edge(START, "research")
    events = await collect(builder.compile(checkpointer=InMemorySaver()), user_input())
    check_run(events)
    started = of_type(events, EventType.SUBAGENT_STARTED)[0]
    assert started.name == "research"
    text = of_type(events, EventType.TEXT_MESSAGE_START)[0]
    step = next(e for e in of_type(events, EventType.STEP_STARTED) if e.step_name == "inner")
    assert text.subagent_run_id == step.subagent_run_id == started.subagent_run_id
    finished = of_type(events, EventType.SUBAGENT_FINISHED)[0]
    assert finished.subagent_run_id == started.subagent_run_id
    assert events.index(finished) < events.index(of_type(events, EventType.MESSAGES_SNAPSHOT)[0])


async def test_custom_stream_writes() -> None:
    def work(state: MessagesState) -> dict[str, Any]:
        write = get_stream_writer()
        write({"name": "progress", "value": {"pct": 50}})
        write("plain")
        return {}

    events = await collect(node_graph(work), user_input())
    check_run(events)
    custom = [(e.name, e.value) for e in of_type(events, EventType.CUSTOM)]
    assert custom == [("progress", {"pct": 50}), ("langgraph.custom", "plain")]


class Board(MessagesState):
    items: list[str]
    count: int
    _secret: str


async def test_state_deltas_rebuild_the_final_state() -> None:
    def add(state: Board) -> dict[str, Any]:
        return {"items": [*state.get("items", []), "a"], "count": state.get("count", 0) + 1}

    def more(state: Board) -> dict[str, Any]:
        return {"items": [*state["items"], "b"], "count": 5, "_secret": "x"}

    builder = StateGraph(Board)
    builder.add_node(add)
    builder.add_node(more)
    builder.add_edge(START, "add")
    builder.add_edge("add", "more")
    builder.add_edge("more", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    events = await collect(graph, user_input())
    check_run(events)
    assert final_state(events) == {"items": ["a", "b"], "count": 5}
    assert len(of_type(events, EventType.STATE_DELTA)) == 2


@pytest.mark.parametrize("streaming", [True, False])
async def test_create_agent_with_a_tool(streaming: bool) -> None:
    model = ScriptedChatModel(
        script=[
            AIMessage(content="", tool_calls=[call("get_weather", {"city": "Lima"}, "c9")]),
            "Warm in Lima.",
        ],
        disable_streaming=not streaming,
    )
    graph = create_agent(model, tools=[get_weather], checkpointer=InMemorySaver())
    events = await collect(graph, user_input())
    check_run(events)
    assert of_type(events, EventType.TOOL_CALL_RESULT)[0].content == "sunny in Lima"
    texts = "".join(e.delta for e in of_type(events, EventType.TEXT_MESSAGE_CONTENT))
    assert texts == "Warm in Lima."
    ids = snapshot_ids(events)
    assert ids[0] == "u1" and ids[1] == "ai-1" and len(ids) == 4


async def test_usage_parent_run_id_and_no_raw_by_default() -> None:
    usage = {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14}
    message = AIMessage(
        content="Hi.",
        usage_metadata=usage,
        response_metadata={"model_name": "fake-1", "model_provider": "fake"},
    )
    events = await collect(agent_graph([message]), user_input(parent_run_id="parent-run"))
    check_run(events)
    assert events[0].parent_run_id == "parent-run"
    [entry] = events[-1].usage
    assert (entry.provider, entry.model, entry.input_tokens, entry.total_tokens) == (
        "fake",
        "fake-1",
        10,
        14,
    )
    assert not of_type(events, EventType.RAW)


async def test_tool_error_result_without_a_name() -> None:
    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(content="", id="a1", tool_calls=[call("flaky", {}, "x1")])]}

    def tools(state: MessagesState) -> dict[str, Any]:
        return {
            "messages": [
                ToolMessageLC(content="it broke", tool_call_id="x1", id="tr1", status="error")
            ]
        }

    events = await collect(node_graph(agent, tools), user_input())
    check_run(events)
    result = of_type(events, EventType.TOOL_CALL_RESULT)[0]
    assert (result.message_id, result.tool_call_id, result.content) == ("tr1", "x1", "it broke")
    assert result.metadata == {"error": True}
    snapshot = of_type(events, EventType.MESSAGES_SNAPSHOT)[0].messages
    assert snapshot[-1].error == "it broke"
    assert events[-1].outcome.pending_tool_call_ids is None


async def test_interrupt_response_schema_is_passed_on() -> None:
    schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}

    def ask(state: MessagesState) -> dict[str, Any]:
        interrupt("Approve?", response_schema=schema)
        return {}

    events = await collect(node_graph(ask), user_input())
    check_run(events)
    [pending] = events[-1].outcome.interrupts
    assert (pending.message, pending.response_schema) == ("Approve?", schema)
