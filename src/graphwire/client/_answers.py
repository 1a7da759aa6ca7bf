"""An interrupt's answer, and what approving or rejecting one sends, read from
its ``responseSchema``: an object with boolean properties
(``{"approved": {"type": "boolean"}}``) gets them all true, or all false; an
interrupt without such a schema is approved with ``true`` and rejected by
dismissing it (the AG-UI ``cancelled`` status)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ag_ui.core import Interrupt


@dataclass(frozen=True, slots=True)
class Answer:
    """One interrupt's answer: a payload, or dismissed (status ``cancelled``)."""

    payload: Any = None
    dismissed: bool = False


DISMISSED = Answer(dismissed=True)


def approve(interrupt: Interrupt) -> Answer:
    """What approving ``interrupt`` sends."""
    flags = boolean_fields(interrupt.response_schema)
    return Answer(dict.fromkeys(flags, True)) if flags else Answer(True)


def reject(interrupt: Interrupt) -> Answer:
    """What rejecting ``interrupt`` sends."""
    flags = boolean_fields(interrupt.response_schema)
    return Answer(dict.fromkeys(flags, False)) if flags else DISMISSED


def boolean_fields(schema: dict[str, Any] | None) -> list[str]:
    """The boolean properties of an object schema ([] for any other)."""
    if not schema or schema.get("type") != "object":
        return []
    properties = schema.get("properties", {})
    return [name for name, field in properties.items() if field.get("type") == "boolean"]
