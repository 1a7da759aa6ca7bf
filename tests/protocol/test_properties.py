"""Property test: whatever the stream and wherever it breaks, the AG-UI run
keeps its 1.0 invariants."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from graphwire.protocol import AguiMapper, ErrorCode, MapperOptions, RunInfo, StreamParser
from graphwire.protocol._events import MessageEnd, TextDelta
from tests.agui_checks import check_run

MSG = st.sampled_from(["m1", "m2", "m3"])
NS = st.sampled_from([(), ("sub:t1",), ("sub:t1", "deep:t2"), ("other:t3",)])
NODE = st.sampled_from(["agent", "tools", "sub"])
TASK = st.sampled_from(["k1", "k2", "t1", "t2"])
TEXT = st.text(max_size=5)


def part(kind: str, ns: tuple[str, ...], data: Any, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "ns": ns, "data": data, **extra}


@st.composite
def chunk(draw: st.DrawFn) -> dict[str, Any]:
    msg = draw(MSG)
    index = draw(st.integers(0, 2))
    first = draw(st.booleans())
    calls = draw(
        st.lists(
            st.just(
                {
                    "name": "tool" if first else None,
                    "args": draw(TEXT),
                    "id": f"{msg}-c{index}" if first else None,
                    "index": index,
                    "type": "tool_call_chunk",
                }
            ),
            max_size=1,
        )
    )
    reasoning = draw(st.one_of(st.none(), TEXT))
    message = AIMessageChunk(
        id=msg,
        content=draw(TEXT),
        tool_call_chunks=calls,
        additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
        chunk_position="last" if draw(st.booleans()) else None,
    )
    return part("messages", draw(NS), (message, {}))


@st.composite
def whole(draw: st.DrawFn) -> dict[str, Any]:
    msg = draw(MSG)
    calls = [
        {"name": "tool", "args": {"a": 1}, "id": f"{msg}-c{i}", "type": "tool_call"}
        for i in range(draw(st.integers(0, 2)))
    ]
    message = AIMessage(id=msg, content=draw(TEXT), tool_calls=calls)
    return part("messages", draw(NS), (message, {}))


@st.composite
def tool_result(draw: st.DrawFn) -> dict[str, Any]:
    call_id = f"{draw(MSG)}-c{draw(st.integers(0, 2))}"
    message = ToolMessage(
        id=f"tm-{draw(st.integers(0, 3))}",
        tool_call_id=call_id,
        content=draw(TEXT),
        status=draw(st.sampled_from(["success", "error"])),
    )
    return part("messages", draw(NS), (message, {}))


@st.composite
def task(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {"id": draw(TASK), "name": draw(NODE)}
    if draw(st.booleans()):
        data.update(input={}, triggers=())
    else:
        interrupts = [
            {"id": f"i{draw(st.integers(0, 3))}", "value": draw(TEXT), "response_schema": None}
            for _ in range(draw(st.integers(0, 1)))
        ]
        data.update(error=draw(st.sampled_from([None, "boom"])), result={}, interrupts=interrupts)
    return part("tasks", draw(NS), data)


values = st.builds(
    lambda n, s: part("values", (), {"messages": [], "n": n, "s": s}, interrupts=()),
    st.integers(0, 3),
    st.lists(st.integers(0, 2), max_size=3),
)
custom = st.builds(lambda ns, v: part("custom", ns, v), NS, st.one_of(TEXT, st.integers()))
PARTS = st.one_of(chunk(), whole(), tool_result(), task(), values, custom)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(PARTS, max_size=40),
    ending=st.sampled_from(["finish", "cancel", "fail"]),
    break_at=st.one_of(st.none(), st.integers(0, 40)),
    raw=st.booleans(),
)
def test_invariants_hold_for_any_stream(
    parts: list[dict[str, Any]], ending: str, break_at: int | None, raw: bool
) -> None:
    parser = StreamParser(raw=raw)
    mapper = AguiMapper(RunInfo("t", "r"), MapperOptions(emit_raw=raw))
    events = mapper.start()
    for position, item in enumerate(parts):
        if position == break_at:
            events += mapper.fail(ErrorCode.AGENT_ERROR, "injected")
            break
        for parsed in parser.parse(item):
            events += mapper.feed(parsed)
    if not mapper.closed:
        events += parser_flush(parser, mapper)
        events += {
            "finish": mapper.finish,
            "cancel": mapper.cancel,
            "fail": lambda: mapper.fail("X", "late"),
        }[ending]()
    check_run(events)
    assert mapper.fail("Y", "after") == []


TOKENS = st.builds(
    lambda msg, text, ns: part("messages", ns, (AIMessageChunk(id=msg, content=text), {})),
    MSG,
    TEXT,
    NS,
)


def mapped(parts: list[dict[str, Any]], fast: bool) -> list[Any]:
    """The run's events, parts fed one by one (``fast``: a further token of the
    text delta mapped last skips parse and feed, as GraphRun does)."""
    parser = StreamParser()
    mapper = AguiMapper(RunInfo("t", "r"))
    events = mapper.start()
    for item in parts:
        token = parser.text_token(item) if fast else None
        tail = mapper.text_tail(token[0]) if token is not None else None
        if token is not None and tail is not None:
            events.append(tail.model_copy(update={"delta": token[1]}))
            continue
        for parsed in parser.parse(item):
            events += mapper.feed(parsed)
    return events + parser_flush(parser, mapper) + mapper.finish()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(TOKENS, TOKENS, PARTS), max_size=40))
def test_the_text_token_shortcut_maps_exactly_as_parse_and_feed(
    parts: list[dict[str, Any]],
) -> None:
    fast = mapped(parts, fast=True)
    assert fast == mapped(parts, fast=False)
    check_run(fast)


def parser_flush(parser: StreamParser, mapper: AguiMapper) -> list[Any]:
    return [e for parsed in parser.flush() for e in mapper.feed(parsed)]


def test_streamed_then_whole_message_is_sent_once() -> None:
    parser = StreamParser()
    mapper = AguiMapper(RunInfo("t", "r"))
    chunks = [
        AIMessageChunk(id="m", content="Hi"),
        AIMessageChunk(id="m", content="", chunk_position="last"),
    ]
    events = mapper.start()
    for item in [*chunks, AIMessage(id="m", content="Hi")]:
        for parsed in parser.parse(part("messages", (), (item, {}))):
            events += mapper.feed(parsed)
    events += mapper.finish()
    check_run(events)
    assert [e.delta for e in events if e.type.value == "TEXT_MESSAGE_CONTENT"] == ["Hi"]


def test_a_run_ended_before_it_started_still_opens_with_run_started() -> None:
    for end in ("cancel", "finish", "fail"):
        mapper = AguiMapper(RunInfo("t", "r"))
        events = mapper.fail("X", "boom") if end == "fail" else getattr(mapper, end)()
        check_run(events)


def test_only_a_mapped_text_delta_can_be_continued() -> None:
    mapper = AguiMapper(RunInfo("t", "r"))
    mapper.start()
    mapper.feed(TextDelta("m", ""))  # opens the message, no content event
    assert mapper.text_tail("m") is None
    (content,) = mapper.feed(TextDelta("m", "Hi"))
    assert mapper.text_tail("m") is content and mapper.text_tail("other") is None
    mapper.feed(MessageEnd("m"))
    assert mapper.text_tail("m") is None
    mapper.feed(TextDelta("n", "Yo"))
    mapper.finish()
    assert mapper.text_tail("n") is None
