"""graphwire's event encoder writes exactly what the SDK's serializer writes."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

import pytest
from ag_ui import core
from ag_ui.core import BaseEvent, MessagesSnapshotEvent, TextMessageContentEvent, UserMessage
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from graphwire.runs import encode_event

EVENTS = sorted(
    (
        cls
        for cls in vars(core).values()
        if inspect.isclass(cls) and issubclass(cls, BaseEvent) and cls is not BaseEvent
    ),
    key=lambda cls: cls.__name__,
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


def values(annotation: Any) -> st.SearchStrategy[Any] | None:
    """Values for one field; None when the field is not a plain one (left out:
    the event keeps its default, or the example is dropped)."""
    origin = typing.get_origin(annotation)
    if annotation is str:
        return st.text(max_size=12)
    if annotation in (int, bool):
        return st.from_type(annotation)
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        options = [values(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        usable = [o for o in options if o is not None]
        return st.one_of(st.none(), *usable)
    if annotation is Any:
        return JSON
    return None


@st.composite
def events(draw: st.DrawFn) -> BaseEvent:
    cls = draw(st.sampled_from(EVENTS))
    fields: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        strategy = values(field.annotation)
        if strategy is not None and (field.is_required() or draw(st.booleans())):
            fields[name] = draw(strategy)
    try:
        return cls(**fields)
    except ValueError:  # a required nested field: such events go through the SDK anyway
        reject()


def sdk(event: BaseEvent) -> str | type[Exception]:
    try:
        return event.model_dump_json(by_alias=True)
    except Exception as exc:
        return type(exc)


@settings(max_examples=800, deadline=None)
@given(events())
def test_any_event_encodes_as_the_sdk_encodes_it(event: BaseEvent) -> None:
    expected = sdk(event)
    if isinstance(expected, str):
        assert encode_event(event) == expected
    else:
        with pytest.raises(expected):
            encode_event(event)


def test_text_json_must_escape_and_extras_go_through_the_sdk() -> None:
    tricky = TextMessageContentEvent(message_id='m"1', delta='é\u2028\x00\x1f"\\/\x7f😀\n')
    assert encode_event(tricky) == tricky.model_dump_json(by_alias=True)
    extra = TextMessageContentEvent.model_validate({"messageId": "m", "delta": "x", "note": 1})
    wire = '{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"x","note":1}'
    assert encode_event(extra) == wire
    nested = MessagesSnapshotEvent(messages=[UserMessage(id="u", content="hi")])
    assert encode_event(nested) == nested.model_dump_json(by_alias=True)
