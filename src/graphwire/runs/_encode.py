"""An AG-UI event's wire JSON: byte for byte what the SDK's serializer writes.

The SDK's models serialize through a Python wrap-serializer (it drops unset
optional fields, in every nested model too) at ~4 µs for a flat event and
~7-9 µs for the end-of-run snapshots. graphwire writes the JSON itself, from
the model's fields in field order under their camelCase aliases, for what
runs carry: strings, string enums, booleans, integers, ``None``, lists and
string-keyed dicts of those, and the SDK's own models (messages, tool calls,
outcomes) nested in them. Anything else — floats, extra fields, other types,
text that UTF-8 cannot carry, nesting deeper than ``_MAX_DEPTH`` — sends the
whole event through the SDK. ``tests/runs/test_encode.py`` holds the two equal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from typing import Any, Final, cast

from ag_ui.core import BaseEvent
from pydantic import BaseModel

_quote = cast(Any, json.encoder).encode_basestring
"""The C string encoder: escapes exactly what serde_json escapes, as it does."""

_SDK_PACKAGE: Final = "ag_ui."
_MAX_DEPTH: Final = 32
"""Deeper values (or a value that contains itself) go through the SDK, which
has its own answer for them."""

_Layout = tuple[tuple[str, str, bool], ...]
"""(attribute, '"alias":', omitted when None) per field, in field order."""

_LAYOUTS: dict[type[BaseModel], _Layout | None] = {}
"""Per model class; None for a class the SDK's omission rule does not cover."""

_ENUMS: dict[Enum, str] = {}
"""A string enum member's JSON (its value, quoted)."""


def encode_event(event: BaseEvent) -> str:
    """An event's wire JSON (camelCase; the SDK's models leave out unset fields)."""
    text = _model(event, 0)
    if text is None or (not text.isascii() and not _utf8(text)):
        return _sdk(event)  # the SDK raises its own error for a lone surrogate
    return text


def encode_model(model: BaseModel) -> str | None:
    """An AG-UI message's JSON as ``encode_event`` writes it in a
    MESSAGES_SNAPSHOT (at depth 2: the event, its list), or None when the
    event needs the SDK."""
    text = _model(model, 2)
    if text is None or (not text.isascii() and not _utf8(text)):
        return None
    return text


class Written(list[Any]):
    """Models whose JSON was written already, each in ``texts``
    (``SnapshotMemo``): ``encode_event`` writes those while the list holds
    exactly the models it was made with."""

    __slots__ = ("_models", "texts")

    def __init__(self, models: list[Any], texts: list[str]) -> None:
        super().__init__(models)
        self._models = tuple(models)
        self.texts = texts

    def intact(self) -> bool:
        """The list still holds its models, in order (nobody changed the list)."""
        return len(self) == len(self._models) and all(
            item is model for item, model in zip(self, self._models, strict=True)
        )


def _model(model: BaseModel, depth: int) -> str | None:
    """An SDK model's JSON, or None when it needs the SDK."""
    if model.__pydantic_extra__:
        return None  # extra fields: the SDK's models allow them
    cls = type(model)
    layout = _LAYOUTS.get(cls)
    if layout is None and cls not in _LAYOUTS:
        layout = _LAYOUTS[cls] = _layout_of(cls)
    if layout is None:
        return None
    values = model.__dict__
    parts = []
    for name, key, omittable in layout:
        value = values[name]
        if value.__class__ is str:  # most fields: ids, deltas, names
            parts.append(key + _quote(value))
            continue
        if value is None:
            if not omittable:
                parts.append(key + "null")
            continue
        text = _value(value, depth)
        if text is None:
            return None
        parts.append(key + text)
    return "{" + ",".join(parts) + "}"


def _value(value: Any, depth: int) -> str | None:
    """A field's or an item's JSON, or None when it needs the SDK."""
    cls = value.__class__
    scalar = _SCALARS.get(cls)
    if scalar is not None:
        return scalar(value)
    if depth >= _MAX_DEPTH:
        return None
    container = _CONTAINERS.get(cls)
    if container is not None:
        return container(value, depth + 1)
    if isinstance(value, Enum):
        return _enum(value)
    if isinstance(value, BaseModel):
        return _model(value, depth + 1)
    return None


def _object(value: dict[Any, Any], depth: int) -> str | None:
    parts = []
    for key, item in value.items():
        text = _value(item, depth)
        if key.__class__ is not str or text is None:
            return None
        parts.append(_quote(key) + ":" + text)
    return "{" + ",".join(parts) + "}"


def _array(value: list[Any] | tuple[Any, ...], depth: int) -> str | None:
    items = []
    for item in value:
        text = _value(item, depth)
        if text is None:
            return None
        items.append(text)
    return "[" + ",".join(items) + "]"


_SCALARS: dict[type, Callable[[Any], str]] = {
    str: _quote,
    int: int.__repr__,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _value: "null",
}


def _written(value: Written, depth: int) -> str | None:
    return "[" + ",".join(value.texts) + "]" if value.intact() else _array(value, depth)


_CONTAINERS: dict[type, Callable[[Any, int], str | None]] = {
    dict: _object,
    list: _array,
    tuple: _array,
    Written: _written,
}


def _enum(member: Enum) -> str | None:
    text = _ENUMS.get(member)
    if text is None and member.value.__class__ is str:
        text = _ENUMS[member] = _quote(member.value)
    return text


def _sdk(event: BaseEvent) -> str:
    return event.model_dump_json(by_alias=True)


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _layout_of(cls: type[BaseModel]) -> _Layout | None:
    """The class's fields as the SDK writes them; None for a class that is not
    the SDK's own (a subclass defined elsewhere may serialize differently
    where it is nested, so it goes through the SDK)."""
    if not cls.__module__.startswith(_SDK_PACKAGE) and not issubclass(cls, BaseEvent):
        return None
    return tuple(
        (
            name,
            f'"{field.serialization_alias or field.alias or name}":',
            not field.is_required() and field.default is None,
        )
        for name, field in cls.model_fields.items()
    )
