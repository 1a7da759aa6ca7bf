"""graphwire's event encoder writes exactly what the SDK's serializer writes."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

import pytest
from ag_ui import core
from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    MessagesSnapshotEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
    UserMessage,
)
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from pydantic import BaseModel

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
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner) | st.tuples(inner)
    ),
    max_leaves=5,
)
"""What ``Any`` fields hold; floats (which the SDK writes) included."""


SIMPLE: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=12),
    int: st.integers(),
    bool: st.booleans(),
    Any: JSON,
}


def values(annotation: Any, depth: int = 0) -> st.SearchStrategy[Any] | None:
    """Values for one field; None when there is no strategy for it (left out:
    the model keeps its default, or the example is dropped)."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in SIMPLE:
        return SIMPLE[annotation]
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        drawn = (values(arg, depth) for arg in args if arg is not type(None))
        options = [o for o in drawn if o is not None]
        return st.one_of(st.none(), *options) if type(None) in args else st.one_of(*options)
    if origin in (list, dict):
        return _container(origin, values(args[-1], depth))
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel) and depth < 3:
        return models(annotation, depth + 1)
    return None


def _container(origin: type, inner: st.SearchStrategy[Any] | None) -> st.SearchStrategy[Any] | None:
    if inner is None:
        return None
    if origin is list:
        return st.lists(inner, max_size=2)
    return st.dictionaries(SIMPLE[str], inner, max_size=3)


@st.composite
def models(draw: st.DrawFn, cls: type[BaseModel], depth: int = 0) -> BaseModel:
    """An instance of ``cls`` (an event or an SDK model nested in one) with
    values in its required fields and in some of its optional ones."""
    fields: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        strategy = values(field.annotation, depth)
        if strategy is not None and (field.is_required() or draw(st.booleans())):
            fields[name] = draw(strategy)
    try:
        return cls(**fields)
    except ValueError:  # out of the field's range, or a required field without a strategy
        reject()


def events() -> st.SearchStrategy[BaseModel]:
    return st.sampled_from(EVENTS).flatmap(models)


def sdk(event: BaseEvent) -> str | type[Exception]:
    try:
        return event.model_dump_json(by_alias=True)
    except Exception as exc:
        return type(exc)


@settings(max_examples=1500, deadline=None)
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


def test_what_the_encoder_does_not_write_goes_through_the_sdk() -> None:
    looped: dict[str, Any] = {"a": []}
    looped["a"].append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        encode_event(StateSnapshotEvent(snapshot=looped))
    deep: Any = "leaf"
    for _ in range(40):
        deep = [deep]
    event = CustomEvent(name="deep", value={"v": deep, "f": 1.5, "big": 2**70})
    assert encode_event(event) == event.model_dump_json(by_alias=True)
    nested_extra = MessagesSnapshotEvent(
        messages=[UserMessage.model_validate({"id": "u", "content": "hi", "note": None})]
    )
    assert encode_event(nested_extra) == nested_extra.model_dump_json(by_alias=True)
