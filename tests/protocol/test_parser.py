"""The parser alone, over hand-written v2 stream parts."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessageChunk
from langgraph.types import Interrupt

from graphwire.protocol import StreamParser
from graphwire.protocol._events import InterruptRaised, MessageEnd, TextDelta, ToolCallChunk


def messages_part(chunk: Any, node: str = "agent", ns: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "messages", "ns": ns, "data": (chunk, {"langgraph_node": node})}


def test_text_delta_carries_id_role_node_and_namespace() -> None:
    parsed = StreamParser().parse(
        messages_part(AIMessageChunk(id="m", content="Hi"), node="writer", ns=("sub:1",))
    )
    assert parsed == [TextDelta("m", "Hi", ("sub:1",), "assistant", "writer")]


def test_a_tool_call_streamed_in_one_chunk_and_closed_by_the_last_chunk() -> None:
    chunk = AIMessageChunk(
        id="m",
        content="",
        chunk_position="last",
        tool_call_chunks=[
            {"name": "f", "args": '{"a": 1}', "id": "c", "index": 0, "type": "tool_call_chunk"}
        ],
    )
    assert StreamParser().parse(messages_part(chunk)) == [
        ToolCallChunk("m", 0, "c", "f", '{"a": 1}'),
        MessageEnd("m"),
    ]


def test_values_interrupts_wait_for_task_results_then_flush() -> None:
    parser = StreamParser()
    found = Interrupt(value="ok?", id="i1")
    values = {"type": "values", "ns": (), "data": {}, "interrupts": (found,)}
    assert not [e for e in parser.parse(values) if isinstance(e, InterruptRaised)]
    task = {
        "type": "tasks",
        "ns": (),
        "data": {
            "id": "k",
            "name": "ask",
            "error": None,
            "result": {},
            "interrupts": [{"id": "i1", "value": "ok?", "response_schema": {"type": "boolean"}}],
        },
    }
    raised = [e for e in parser.parse(task) if isinstance(e, InterruptRaised)]
    assert raised == [InterruptRaised("i1", "ok?", {"type": "boolean"}, "ask", ())]
    assert parser.flush() == []
    other = StreamParser()
    other.parse(values)
    assert other.flush() == [InterruptRaised("i1", "ok?", None, None, ())]
