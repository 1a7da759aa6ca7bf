"""An AG-UI event's wire JSON: byte for byte what the SDK's serializer writes.

The SDK's models serialize through a Python wrap-serializer (it drops unset
optional fields) at ~4 µs an event. Most events of a run are flat — string
fields only — and are written here straight from the model's fields, in the
model's field order under its camelCase aliases. Anything else (nested models,
numbers, lists, dicts, extra fields, text that UTF-8 cannot carry) goes through
the SDK.
``tests/runs/test_encode.py`` holds the two equal.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, cast

from ag_ui.core import BaseEvent

_quote = cast(Any, json.encoder).encode_basestring
"""The C string encoder: escapes exactly what serde_json escapes, as it does."""

_Layout = tuple[tuple[str, str, bool], ...]
"""(attribute, '"alias":', omitted when None) per field, in field order."""

_LAYOUTS: dict[type[BaseEvent], _Layout] = {}


def encode_event(event: BaseEvent) -> str:
    """An event's wire JSON (camelCase; the SDK's models leave out unset fields)."""
    if event.__pydantic_extra__:
        return _sdk(event)  # extra fields: the SDK's models allow them
    cls = type(event)
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = _layout_of(cls)
    values = event.__dict__
    parts = []
    for name, key, omittable in layout:
        value = values[name]
        if value is None and omittable:
            continue
        if value.__class__ is str:
            parts.append(key + _quote(value))
        elif isinstance(value, Enum) and value.value.__class__ is str:
            parts.append(key + _quote(value.value))
        else:
            return _sdk(event)
    text = "{" + ",".join(parts) + "}"
    if not text.isascii() and not _utf8(text):
        return _sdk(event)  # the SDK raises its own error for a lone surrogate
    return text


def _sdk(event: BaseEvent) -> str:
    return event.model_dump_json(by_alias=True)


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _layout_of(cls: type[BaseEvent]) -> _Layout:
    return tuple(
        (
            name,
            f'"{field.serialization_alias or field.alias or name}":',
            not field.is_required() and field.default is None,
        )
        for name, field in cls.model_fields.items()
    )
