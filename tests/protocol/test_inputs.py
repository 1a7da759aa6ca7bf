"""RunAgentInput -> graph input, resume commands and config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from ag_ui.core import (
    AssistantMessage,
    Context,
    DataSource,
    DeveloperMessage,
    EventType,
    FunctionCall,
    ImagePart,
    ResumeEntry,
    TextPart,
    Tool,
    ToolCall,
    UserMessage,
)
from ag_ui.core import ToolMessage as ToolMessageAgui
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from graphwire import bind_frontend_tools, frontend_tools
from graphwire.protocol import (
    ErrorCode,
    InputError,
    ThreadView,
    plan_run,
    to_agui_messages,
    to_langchain_messages,
)
from graphwire.testing import ScriptedChatModel
from tests.agui_checks import check_run
from tests.graphs import agent_graph, collect, user_input
from tests.protocol.test_golden import two_question_graph


def thread_config(thread: str = "t1") -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}


def asking_graph() -> Any:
    def ask(state: MessagesState) -> dict[str, Any]:
        return {"messages": [HumanMessage(content=str(interrupt("Go?")), id="answer")]}

    builder = StateGraph(MessagesState)
    builder.add_node(ask)
    builder.add_edge(START, "ask")
    return builder.compile(checkpointer=InMemorySaver())


async def test_new_message_while_interrupt_pending_is_an_error_and_changes_nothing() -> None:
    graph = asking_graph()
    check_run(await collect(graph, user_input()))
    before = await graph.aget_state(thread_config())
    events = await collect(graph, user_input("another", run="r2", msg_id="u2"))
    check_run(events)
    assert events[-1].type == EventType.RUN_ERROR
    assert events[-1].code == ErrorCode.INTERRUPT_PENDING
    after = await graph.aget_state(thread_config())
    assert after.values == before.values and after.interrupts == before.interrupts


async def test_resume_naming_an_unknown_interrupt() -> None:
    graph = asking_graph()
    await collect(graph, user_input())
    run = user_input(run="r2")
    run.resume = [ResumeEntry(interrupt_id="nope", status="resolved", payload=1)]
    events = await collect(graph, run)
    check_run(events)
    assert events[-1].code == ErrorCode.UNKNOWN_INTERRUPT


async def test_resume_that_leaves_an_interrupt_open() -> None:
    graph = two_question_graph({})
    first = await collect(graph, user_input())
    some = first[-1].outcome.interrupts[0]
    run = user_input(run="r2")
    run.resume = [ResumeEntry(interrupt_id=some.id, status="resolved", payload=1)]
    events = await collect(graph, run)
    assert events[-1].code == ErrorCode.RESUME_INCOMPLETE


async def test_legacy_forwarded_props_command_resume() -> None:
    graph = asking_graph()
    await collect(graph, user_input())
    run = user_input(run="r2", msg_id="u1")
    run.forwarded_props = {"command": {"resume": "legacy yes"}}
    events = await collect(graph, run)
    check_run(events)
    assert events[-1].outcome.type == "success"
    state = await graph.aget_state(thread_config())
    assert state.values["messages"][-1].content == "legacy yes"


async def test_messages_already_in_the_checkpoint_are_not_added_again() -> None:
    graph = agent_graph(["First.", "Second."])
    await collect(graph, user_input())
    run = user_input(run="r2")
    run.messages = [
        UserMessage(id="u1", content="hi"),
        AssistantMessage(id="ai-1", content="First."),
        UserMessage(id="u2", content="more"),
    ]
    check_run(await collect(graph, run))
    state = await graph.aget_state(thread_config())
    assert [m.id for m in state.values["messages"]] == ["u1", "ai-1", "u2", "ai-2"]


async def test_edited_message_reruns_from_the_checkpoint_before_it() -> None:
    graph = agent_graph(["First answer.", "Edited answer."])
    await collect(graph, user_input("original"))
    events = await collect(graph, user_input("edited", run="r2"))
    check_run(events)
    state = await graph.aget_state(thread_config())
    assert [(m.id, m.content) for m in state.values["messages"]] == [
        ("u1", "edited"),
        ("ai-2", "Edited answer."),
    ]


async def test_regenerate_by_resending_history_up_to_the_user_message() -> None:
    graph = agent_graph(["One.", "Two."])
    await collect(graph, user_input())
    check_run(await collect(graph, user_input(run="r2")))
    state = await graph.aget_state(thread_config())
    assert [m.content for m in state.values["messages"]] == ["hi", "Two."]


def test_state_is_merged_and_unknown_keys_go_to_config() -> None:
    run = user_input(state={"count": 3, "other": 1, "messages": ["ignored"]})
    call = plan_run(run, ThreadView(state_keys=frozenset({"messages", "count"})))
    assert call.input["count"] == 3 and "other" not in call.input
    assert call.config["configurable"]["ag_ui"]["state"]["other"] == 1
    assert [m.id for m in call.input["messages"]] == ["u1"]


@dataclass
class Trip:
    city: str


def test_state_the_client_sends_back_unchanged_is_not_written_again() -> None:
    # The client holds the state as JSON; writing it back unchanged would turn the
    # graph's dataclasses and models into dicts.
    values = {"trip": Trip("Lisbon"), "count": 3}
    run = user_input(state={"trip": {"city": "Lisbon"}, "count": 4})
    keys = frozenset({"messages", "trip", "count"})
    call = plan_run(run, ThreadView(state_keys=keys, values=values))
    assert "trip" not in call.input and call.input["count"] == 4


def test_frontend_tools_reach_declared_state_keys_and_config() -> None:
    tool = Tool(
        name="set_color",
        description="Set the color",
        parameters={"type": "object", "properties": {"c": {"type": "string"}}},
    )
    run = user_input(tools=[tool], context=[Context(description="page", value="home")])
    run.forwarded_props = {"x": 1}
    call = plan_run(run, ThreadView(state_keys=frozenset({"messages", "tools", "copilotkit"})))
    spec = {"name": "set_color", "description": "Set the color", "parameters": tool.parameters}
    assert call.input["tools"] == [spec]
    assert call.input["copilotkit"] == {
        "actions": [spec],
        "context": [{"description": "page", "value": "home"}],
    }
    assert frontend_tools(call.config) == [spec]
    assert call.config["configurable"]["ag_ui"]["forwarded_props"] == {"x": 1}
    assert call.config["configurable"]["thread_id"] == "t1"


def test_bind_frontend_tools_binds_backend_and_frontend_tools() -> None:
    bound: list[Any] = []

    class Recording(ScriptedChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            bound.extend(tools)
            return self

    config = plan_run(user_input(tools=[Tool(name="f", description="d")]), ThreadView()).config
    bind_frontend_tools(Recording(script=[]), config, backend_tools=["backend"])
    assert bound[0] == "backend"
    assert [t["name"] for t in bound[1:]] == ["f"]


def test_resume_values_single_and_many() -> None:
    run = user_input()
    run.messages = []
    run.resume = [ResumeEntry(interrupt_id="i1", status="resolved", payload={"ok": True})]
    call = plan_run(run, ThreadView(pending_interrupt_ids=("i1",)))
    assert isinstance(call.input, Command) and call.input.resume == {"ok": True}
    run.resume = [
        ResumeEntry(interrupt_id="i1", status="resolved", payload=1),
        ResumeEntry(interrupt_id="i2", status="cancelled", payload="why"),
    ]
    call = plan_run(run, ThreadView(pending_interrupt_ids=("i1", "i2")))
    assert call.input.resume == {"i1": 1, "i2": {"status": "cancelled", "payload": "why"}}


def test_resume_answering_twice_is_rejected() -> None:
    run = user_input()
    run.resume = [ResumeEntry(interrupt_id="i1", status="resolved")] * 2
    with pytest.raises(InputError) as caught:
        plan_run(run, ThreadView(pending_interrupt_ids=("i1",)))
    assert caught.value.code == ErrorCode.INVALID_INPUT


def test_message_conversion_keeps_ids_roles_and_media() -> None:
    image = ImagePart(source=DataSource(value="aGk=", mime_type="image/png"))
    messages = [
        UserMessage(id="u", content=[TextPart(text="look"), image]),
        DeveloperMessage(id="d", content="be brief"),
        AssistantMessage(id="a", content="ok"),
    ]
    converted = to_langchain_messages(messages)
    assert converted[0].content == [
        {"type": "text", "text": "look"},
        {"type": "image", "mime_type": "image/png", "base64": "aGk="},
    ]
    assert isinstance(converted[1], SystemMessage)
    back = to_agui_messages(converted)
    assert [(m.id, m.role) for m in back] == [("u", "user"), ("d", "developer"), ("a", "assistant")]
    assert back[0].content[1].source.value == "aGk="


def test_unparseable_tool_arguments_become_invalid_tool_calls() -> None:
    message = AssistantMessage.model_validate(
        {
            "id": "a",
            "role": "assistant",
            "toolCalls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{broken"}}
            ],
        }
    )
    [converted] = to_langchain_messages([message])
    assert converted.invalid_tool_calls[0]["args"] == "{broken"
    assert to_agui_messages([converted])[0].tool_calls[0].function.arguments == "{broken"


class CopilotState(MessagesState):
    copilotkit: dict[str, Any]
    tools: list[dict[str, Any]]


async def test_graph_written_for_copilotkit_sees_frontend_actions() -> None:
    seen: dict[str, Any] = {}

    def agent(state: CopilotState) -> dict[str, Any]:
        seen["actions"] = [a["name"] for a in state["copilotkit"]["actions"]]
        seen["tools"] = [t["name"] for t in state["tools"]]
        return {"messages": [AIMessage(content="ok", id="a1")]}

    builder = StateGraph(CopilotState)
    builder.add_node(agent)
    builder.add_edge(START, "agent")
    graph = builder.compile(checkpointer=InMemorySaver())
    events = await collect(graph, user_input(tools=[Tool(name="confirm", description="Ask")]))
    check_run(events)
    assert seen == {"actions": ["confirm"], "tools": ["confirm"]}
    snapshot = next(e for e in events if e.type == EventType.STATE_SNAPSHOT).snapshot
    assert "copilotkit" not in snapshot and "tools" not in snapshot


def test_tool_calls_the_user_moved_on_from_get_a_cancelled_result() -> None:
    # A stopped run's tool call the checkpoint never saw, sent back by the client,
    # and an ignored frontend tool call the checkpoint holds: both get a result.
    stored_call = AIMessage(id="a1", content="", tool_calls=[tool_call("show", "c1")])
    thread = ThreadView(messages=(HumanMessage("first", id="u1"), stored_call))
    run = user_input("second", msg_id="u2")
    run.messages = [
        UserMessage(id="u1", content="first"),
        AssistantMessage(id="a1", tool_calls=[agui_call("show", "c1")]),
        UserMessage(id="u0", content="stop that"),
        AssistantMessage(id="a2", tool_calls=[agui_call("search", "c2")]),
        UserMessage(id="u2", content="second"),
    ]
    messages = plan_run(run, thread).input["messages"]
    kinds = [(type(m).__name__, getattr(m, "tool_call_id", None)) for m in messages]
    assert kinds == [
        ("ToolMessage", "c1"),
        ("HumanMessage", None),
        ("AIMessage", None),
        ("ToolMessage", "c2"),
        ("HumanMessage", None),
    ]
    assert all(m.status == "error" for m in messages if isinstance(m, ToolMessage))


def test_calls_answered_or_still_under_way_are_left_alone() -> None:
    stored_call = AIMessage(id="a1", content="", tool_calls=[tool_call("deploy", "c1")])
    history = (HumanMessage("go", id="u1"), stored_call)
    run = user_input("more", msg_id="u2")
    run.messages = [
        UserMessage(id="u1", content="go"),
        ToolMessageAgui(id="t1", role="tool", tool_call_id="c1", content="done"),
        UserMessage(id="u2", content="more"),
    ]
    answered = plan_run(run, ThreadView(messages=history)).input["messages"]
    assert [m.id for m in answered] == ["t1", "u2"]
    waiting = ThreadView(messages=history, pending_interrupt_ids=("i1",))
    resume = user_input(
        "go", msg_id="u1", resume=[ResumeEntry(interrupt_id="i1", status="resolved")]
    )
    assert plan_run(resume, waiting).input.update is None  # the tool waits on its interrupt


def test_a_resume_with_a_new_user_message_or_an_edit_is_refused() -> None:
    """Its update is written before the answer is taken: between the tool call
    and its result, or rewriting what the waiting step was asked."""
    stored_call = AIMessage(id="a1", content="", tool_calls=[tool_call("deploy", "c1")])
    waiting = ThreadView(
        messages=(HumanMessage("go", id="u1"), stored_call), pending_interrupt_ids=("i1",)
    )
    answer = [ResumeEntry(interrupt_id="i1", status="resolved")]
    for run, says in (
        (user_input("more", msg_id="u2", resume=answer), "new user messages ['u2']"),
        (user_input("go to prod", msg_id="u1", resume=answer), "edit message 'u1'"),
    ):
        with pytest.raises(InputError) as refused:
            plan_run(run, waiting)
        assert refused.value.code == ErrorCode.INVALID_INPUT and says in refused.value.message


def tool_call(name: str, call_id: str) -> dict[str, Any]:
    return {"name": name, "args": {}, "id": call_id, "type": "tool_call"}


def agui_call(name: str, call_id: str) -> ToolCall:
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments="{}"))


@pytest.mark.parametrize("legacy", [False, True])
def test_an_answer_without_a_payload_is_still_an_answer(legacy: bool) -> None:
    thread = ThreadView(pending_interrupt_ids=("i1",))
    if legacy:
        run = user_input(forwarded_props={"command": {"resume": None}})
    else:
        run = user_input(resume=[ResumeEntry(interrupt_id="i1", status="resolved")])
    run.messages = []
    call = plan_run(run, thread)
    assert isinstance(call.input, Command) and call.input.resume == {"i1": None}


def test_a_legacy_null_resume_on_a_thread_waiting_for_none_is_no_resume() -> None:
    thread = ThreadView(messages=(HumanMessage(id="u0", content="hi"),))
    call = plan_run(user_input(forwarded_props={"command": {"resume": None}}), thread)
    assert not isinstance(call.input, Command)
    assert [m.id for m in call.input["messages"]] == ["u1"]  # the run goes on as any other


def test_a_legacy_answer_on_a_thread_waiting_for_none_is_refused() -> None:
    thread = ThreadView(messages=(HumanMessage(id="u0", content="hi"),))
    with pytest.raises(InputError) as refused:
        plan_run(user_input(forwarded_props={"command": {"resume": "yes"}}), thread)
    assert refused.value.code == ErrorCode.UNKNOWN_INTERRUPT


async def test_an_answer_without_a_payload_resumes_the_graph() -> None:
    answers: list[Any] = []

    def ask(state: MessagesState) -> dict[str, Any]:
        answers.append(interrupt("go on?"))
        return {}

    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    graph = builder.compile(checkpointer=InMemorySaver())
    first = await collect(graph, user_input())
    [pending] = first[-1].outcome.interrupts
    answer = [ResumeEntry(interrupt_id=pending.id, status="resolved")]
    second = await collect(graph, user_input(run="r2", resume=answer))
    check_run(second)
    assert second[-1].outcome.type == "success" and answers == [None]
