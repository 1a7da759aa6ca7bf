"""The checkpoint serializer's message memo: LangGraph's bytes to the byte, an
unchanged message encoded and decoded once, and anything changed in place seen."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.jsonplus import EXT_PYDANTIC_V2, JsonPlusSerializer
from langgraph.graph import START, MessagesState, StateGraph

from graphwire.tasks import SqliteFile
from graphwire.tasks.stores import _serde
from graphwire.tasks.stores._serde import MessageMemo
from graphwire.tasks.stores.postgres import postgres_checkpointer

LANGGRAPH = JsonPlusSerializer()


@dataclass
class _Note:
    text: str


class _Custom(AIMessage):
    """A message type of the user's own."""


def _at(thread_id: str, ns: str = "") -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}


def _history() -> list[BaseMessage]:
    return [
        HumanMessage("what is the weather in Paris?", id="u1"),
        AIMessage(
            "",
            id="a1",
            tool_calls=[{"name": "weather", "args": {"city": "Paris", "at": [1, 2]}, "id": "c1"}],
            usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        ),
        ToolMessage("sunny", tool_call_id="c1", id="t1"),
        AIMessage([{"type": "text", "text": "It is sunny."}], id="a2"),
    ]


def _checkpoint(messages: list[BaseMessage]) -> dict[str, Any]:
    return {
        "v": 4,
        "id": "cp1",
        "ts": "2026-12-02T00:00:00+00:00",
        "channel_values": {"messages": messages, "turns": 3, "notes": ["a", "b"]},
        "channel_versions": {"messages": "00002.1"},
        "versions_seen": {},
        "updated_channels": ["messages"],
    }


@pytest.fixture
def dumps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseMessage]]:
    """The messages whose fields were dumped (encoded or remembered) from now on."""
    seen: list[BaseMessage] = []
    original = BaseMessage.model_dump

    def model_dump(self: BaseMessage, **kwargs: Any) -> dict[str, Any]:
        seen.append(self)
        return original(self, **kwargs)

    monkeypatch.setattr(BaseMessage, "model_dump", model_dump)
    yield seen


def test_the_bytes_are_langgraphs_and_an_unchanged_message_is_encoded_once(
    dumps: list[BaseMessage],
) -> None:
    memo = MessageMemo()
    messages = _history()
    with memo.scope(_at("t")):  # a channel's value, as the PostgreSQL saver dumps it
        first = memo.dumps_typed(messages)
    assert len(dumps) == 4
    dumps.clear()
    grown = [*messages, HumanMessage("thanks", id="u2")]
    with memo.scope(_at("t")):
        second = memo.dumps_typed(grown)
        write = memo.dumps_typed(messages[-1:])
    assert [m.id for m in dumps] == ["u2"]  # only the new message
    dumps.clear()
    assert first == LANGGRAPH.dumps_typed(messages)
    assert second == LANGGRAPH.dumps_typed(grown)
    assert write == LANGGRAPH.dumps_typed(messages[-1:])
    assert memo.dumps_typed(messages) == first  # outside a scope: LangGraph's own


@pytest.mark.parametrize(
    "change",
    [
        "content",
        "nested tool call args",
        "content block",
        "usage",
        "extra attribute",
        "same id, new object",
    ],
)
def test_a_message_changed_in_place_is_encoded_anew(change: str) -> None:
    memo = MessageMemo()
    messages = _history()
    with memo.scope(_at("t")):
        memo.dumps_typed(messages)
    if change == "content":
        messages[0].content = "and in Rome?"
    elif change == "nested tool call args":
        messages[1].tool_calls[0]["args"]["at"].append(3)
    elif change == "content block":
        messages[3].content[0]["text"] = "It rains."  # type: ignore[index]
    elif change == "usage":
        messages[1].usage_metadata["output_tokens"] = 5  # type: ignore[index]
    elif change == "extra attribute":
        messages[2].artifact = {"raw": 1}
        messages[0].marker = "x"  # BaseMessage allows extra fields
    else:
        messages[2] = ToolMessage("rain", tool_call_id="c1", id="t1")
    with memo.scope(_at("t")):
        assert memo.dumps_typed(messages) == LANGGRAPH.dumps_typed(messages)


def test_an_unchanged_message_is_decoded_once_and_a_changed_one_anew(
    dumps: list[BaseMessage],
) -> None:
    memo = MessageMemo()
    data = LANGGRAPH.dumps_typed(_checkpoint(_history()))
    with memo.scope(_at("t")):
        first = memo.loads_typed(data)
    with memo.scope(_at("t")):
        again = memo.loads_typed(data)
    assert first == LANGGRAPH.loads_typed(data)
    old, new = first["channel_values"]["messages"], again["channel_values"]["messages"]
    assert all(a is b for a, b in zip(old, new, strict=True))
    assert first["channel_values"] is not again["channel_values"]  # containers are fresh
    # A reader changed a decoded message in place: the bytes decode to a fresh one.
    old[1].tool_calls[0]["args"]["city"] = "Rome"
    with memo.scope(_at("t")):
        fresh = memo.loads_typed(data)["channel_values"]["messages"]
    assert fresh[1] is not old[1]
    assert fresh[1].tool_calls[0]["args"]["city"] == "Paris"
    assert fresh[0] is old[0]
    # Bytes it decoded are bytes it can write without encoding again.
    expected = LANGGRAPH.dumps_typed(fresh)
    dumps.clear()
    with memo.scope(_at("t")):
        assert memo.dumps_typed(fresh) == expected
    assert dumps == []


def test_what_a_thread_decodes_is_not_shared_with_another_thread() -> None:
    memo = MessageMemo()
    data = LANGGRAPH.dumps_typed(_checkpoint(_history()))
    with memo.scope(_at("t1")):
        one = memo.loads_typed(data)["channel_values"]["messages"]
    with memo.scope(_at("t2")):
        two = memo.loads_typed(data)["channel_values"]["messages"]
    with memo.scope(_at("t1", "sub:1")):
        three = memo.loads_typed(data)["channel_values"]["messages"]
    assert not any(a is b or a is c for a, b, c in zip(one, two, three, strict=True))
    assert memo.loads_typed(data)["channel_values"]["messages"][0] is not one[0]


def test_a_message_holding_a_model_or_a_dataclass_is_not_remembered(
    dumps: list[BaseMessage],
) -> None:
    memo = MessageMemo()
    message = AIMessage("hi", id="a1", additional_kwargs={"seen": {"u1"}, "note": _Note("a")})
    expected = LANGGRAPH.dumps_typed([message])
    dumps.clear()
    for _ in range(2):
        with memo.scope(_at("t")):
            assert memo.dumps_typed([message]) == expected
    assert len(dumps) == 2  # encoded every time


def test_the_memo_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_serde, "MEMO_BYTES", 50_000)
    memo = MessageMemo()
    big = [HumanMessage("x" * 4_000, id=f"m{n}") for n in range(3)]
    for thread in ("t1", "t2", "t3"):
        with memo.scope(_at(thread)):
            memo.dumps_typed(big)
    assert list(memo._scopes) == [("t3", "")]  # each holds ~43 kB
    assert 0 < sum(scope.held for scope in memo._scopes.values()) <= 50_000


@pytest.fixture(params=["sqlite", "postgresql"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[BaseCheckpointSaver[Any], BaseCheckpointSaver[Any]]]:
    """graphwire's checkpointer, and a reader of the same database that remembers
    nothing: LangGraph's own saver on PostgreSQL; on SQLite, where messages are
    stored by reference, graphwire's on the file opened anew (as after a restart)."""
    if request.param == "sqlite":
        file, again = SqliteFile(tmp_path / "one.sqlite"), SqliteFile(tmp_path / "one.sqlite")
        await file.acquire()
        await again.acquire()
        try:
            yield file.checkpointer(), again.checkpointer()
        finally:
            await again.release()
            await file.release()
    else:
        url = request.getfixturevalue("postgres_url")
        async with (
            postgres_checkpointer(url) as saver,
            AsyncPostgresSaver.from_conn_string(url) as plain,
        ):
            yield saver, plain


async def test_a_graph_that_changes_a_message_in_place_stores_what_langgraph_would(
    stores: tuple[BaseCheckpointSaver[Any], BaseCheckpointSaver[Any]],
) -> None:
    """A node that edits a message of its state in place, against LangGraph's
    advice: the next checkpoint holds the edit, as with LangGraph's serializer,
    and a new read gets the stored message, not a reader's change to its own."""

    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("first answer", id=f"a{len(state['messages'])}")]}

    def touch(state: MessagesState) -> dict[str, Any]:
        state["messages"][0].content = "edited by the graph"
        state["messages"][-1].response_metadata["seen"] = True
        return {}

    builder = StateGraph(MessagesState)
    builder.add_node(answer)
    builder.add_node(touch)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", "touch")
    saver, plain = stores
    graph = builder.compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke({"messages": [HumanMessage("hello", id="u1")]}, config)
    state = await graph.aget_state(config)
    state.values["messages"][0].content = "changed by a reader, never stored"
    assert (await graph.aget_state(config)).values["messages"][0].content == ("edited by the graph")
    await graph.ainvoke({"messages": [HumanMessage("again", id="u2")]}, config)
    history = [
        (m.content, m.response_metadata.get("seen"))
        for m in (await graph.aget_state(config)).values["messages"]
    ]
    assert history == [
        ("edited by the graph", None),
        ("first answer", True),
        ("again", None),
        ("first answer", True),
    ]
    # A reader that remembers nothing reads the same from the database.
    stored = await plain.aget_tuple(config)
    assert stored is not None
    assert [
        (m.content, m.response_metadata.get("seen"))
        for m in stored.checkpoint["channel_values"]["messages"]
    ] == history


def test_a_message_holding_bytes_or_a_str_enum_is_not_remembered() -> None:
    memo = MessageMemo()
    raw = bytearray(b"ab")
    message = AIMessage("hi", id="a1", additional_kwargs={"raw": raw})
    with memo.scope(_at("t")):
        memo.dumps_typed([message])
    raw.append(ord("c"))  # model_dump hands a bytearray over as it is: equal to itself
    with memo.scope(_at("t")):
        assert memo.dumps_typed([message]) == LANGGRAPH.dumps_typed([message])


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
def test_a_read_gets_what_langgraph_decodes_never_the_writers_object() -> None:
    """A writer's message in a state pydantic would not accept (content set to
    a number) reads back validated, as LangGraph's own read gives it; and with
    LangGraph's strict allowlist a type it refuses stays refused."""
    memo = MessageMemo()
    written = ToolMessage("sunny", tool_call_id="c1", id="t1")
    written.content = 5  # type: ignore[assignment]
    with memo.scope(_at("t")):
        data = memo.dumps_typed([written])
        read = memo.loads_typed(data)
    assert read[0] is not written
    assert read == LANGGRAPH.loads_typed(data) and read[0].content == "5"

    strict = MessageMemo(allowed_msgpack_modules=None)
    custom = _Custom("mine", id="x1")
    with strict.scope(_at("t")):
        data = strict.dumps_typed([custom])
        for _ in range(2):
            assert strict.loads_typed(data) == JsonPlusSerializer(
                allowed_msgpack_modules=None
            ).loads_typed(data)


def test_a_message_stored_in_another_shape_is_written_in_langgraphs() -> None:
    """Bytes from an older writer (here without most fields) decode as LangGraph
    decodes them, and the next checkpoint holds LangGraph's encoding of them."""
    old = ormsgpack.packb(
        [
            ormsgpack.Ext(
                EXT_PYDANTIC_V2,
                ormsgpack.packb(
                    [
                        "langchain_core.messages.human",
                        "HumanMessage",
                        {"content": "hi", "id": "u1"},
                        "model_validate_json",
                    ]
                ),
            )
        ]
    )
    memo = MessageMemo()
    with memo.scope(_at("t")):
        read = memo.loads_typed(("msgpack", old))
        again = memo.dumps_typed(read)
    assert read == LANGGRAPH.loads_typed(("msgpack", old))
    assert again == LANGGRAPH.dumps_typed(read) != ("msgpack", old)


async def test_a_turn_encodes_only_its_new_messages(
    stores: tuple[BaseCheckpointSaver[Any], BaseCheckpointSaver[Any]],
    dumps: list[BaseMessage],
) -> None:
    """On both stores: the eleventh turn of a chat dumps its own two messages,
    and the last turn's two once more as it first reads them back (a read never
    gets the writer's object); LangGraph alone dumps every message into each
    of the turn's checkpoints."""

    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("an answer", id=f"a{len(state['messages'])}")]}

    builder = StateGraph(MessagesState)
    builder.add_node(answer)
    builder.add_edge(START, "answer")
    graph = builder.compile(checkpointer=stores[0])
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    for n in range(11):
        dumps.clear()
        await graph.ainvoke({"messages": [HumanMessage(f"turn {n}", id=f"u{n}")]}, config)
    assert {str(m.id) for m in dumps} == {"u9", "a19", "u10", "a21"}
    # The input message twice: as the turn's input write, and as the copy of it
    # LangGraph's channel holds. Without the memo: 3 checkpoints × 22 messages.
    assert sorted(str(m.id) for m in dumps) == ["a19", "a21", "u10", "u10", "u9"]
