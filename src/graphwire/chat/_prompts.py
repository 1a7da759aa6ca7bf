"""Answering an interrupt at the terminal, driven by its ``responseSchema``.

- an object with boolean properties (``{"approved": {"type": "boolean"}}``):
  approve (every boolean true), reject (every boolean false) or edit the
  JSON; its other properties are asked for one by one;
- an object without booleans: each property asked for, by its type;
- a string (an ``enum`` offers its values), a number, an integer, a boolean:
  one answer of that type;
- no schema: approve (``true``), reject (the AG-UI ``cancelled`` status: the
  interrupt is dismissed), edit JSON, or a free-text answer.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, TextIO

from ag_ui.core import Interrupt
from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm, FloatPrompt, IntPrompt, Prompt

from graphwire.client import Answer, approve, reject

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


class InterruptPrompt:
    """Asks the user for the answer to one interrupt at a time."""

    def __init__(self, console: Console, stream: TextIO | None = None) -> None:
        """Questions go to ``console``; answers come from ``stream`` (default: the
        terminal)."""
        self.console = console
        self._ask: dict[str, Any] = {"console": console, "stream": stream}

    def ask(self, interrupt: Interrupt) -> Answer:
        """Show what ``interrupt`` asks and read its answer."""
        asked = escape(interrupt.message or interrupt.reason or "")
        self.console.print(f"[bold magenta]waiting for you:[/] {asked}")
        schema = interrupt.response_schema or {}
        kind = schema.get("type")
        if kind == "object" and isinstance(approve(interrupt).payload, dict):
            return self._approval(interrupt, schema)
        if kind == "object":
            return Answer(self._object(schema))
        if kind in _JSON_TYPES:
            return Answer(self._value("answer", schema))
        return self._open(interrupt)

    def _approval(self, interrupt: Interrupt, schema: dict[str, Any]) -> Answer:
        choice = self._choose({"a": "approve", "r": "reject", "e": "edit JSON"})
        if choice == "e":
            return Answer(self._json(schema))
        flags = (approve if choice == "a" else reject)(interrupt).payload
        return Answer({**self._object(schema, skip=flags), **flags})

    def _object(self, schema: dict[str, Any], skip: Collection[str] = ()) -> dict[str, Any]:
        required = set(schema.get("required", ()))
        answer: dict[str, Any] = {}
        for name, field in schema.get("properties", {}).items():
            if name in skip:
                continue
            value = self._value(name, field, optional=name not in required)
            if value is not None:
                answer[name] = value
        return answer

    def _value(self, name: str, schema: dict[str, Any], *, optional: bool = False) -> Any:
        kind = schema.get("type")
        label = escape(f"{name} ({schema['description']})" if schema.get("description") else name)
        if optional:
            label += " [dim](optional)[/]"
        if "enum" in schema:
            choices = [str(v) for v in schema["enum"]]
            picked = Prompt.ask(label, choices=choices, **self._ask)
            return schema["enum"][choices.index(picked)]
        if kind == "boolean":
            return Confirm.ask(label, **self._ask)
        if kind == "integer":
            return IntPrompt.ask(label, **self._ask, default=None if optional else ...)
        if kind == "number":
            return FloatPrompt.ask(label, **self._ask, default=None if optional else ...)
        if kind == "string":
            text = self._line(label, optional=optional)
            return (text or None) if optional else text
        return self._json(schema, label, optional=optional)

    def _line(self, label: str, *, optional: bool) -> str:
        """A line of text; an optional one may be empty."""
        if optional:
            return Prompt.ask(label, **self._ask, default="", show_default=False)
        return Prompt.ask(label, **self._ask)

    def _open(self, interrupt: Interrupt) -> Answer:
        choice = self._choose({"a": "approve", "r": "reject", "e": "edit JSON", "t": "text"})
        if choice == "a":
            return approve(interrupt)
        if choice == "r":
            return reject(interrupt)
        if choice == "e":
            return Answer(self._json({}))
        return Answer(Prompt.ask("answer", **self._ask))

    def _choose(self, options: dict[str, str]) -> str:
        shown = ", ".join(f"[bold]{key}[/]={what}" for key, what in options.items())
        return Prompt.ask(shown, choices=list(options), show_choices=False, **self._ask)

    def _json(self, schema: dict[str, Any], label: str = "JSON", *, optional: bool = False) -> Any:
        """A JSON value of the schema's type, asked for until it parses (an
        optional one may be left empty: None)."""
        wanted = _JSON_TYPES.get(str(schema.get("type")))
        while True:
            text = self._line(label, optional=optional)
            if optional and not text:
                return None
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                self.console.print(f"[red]not JSON: {escape(exc.msg)}[/]")
                continue
            if wanted is None or _of_type(value, wanted):
                return value
            self.console.print(f"[red]wanted: JSON of type {escape(str(schema['type']))}[/]")


def _of_type(value: Any, wanted: tuple[type, ...]) -> bool:
    """JSON's true is no number, though Python's bool is an int."""
    return isinstance(value, wanted) and (bool in wanted or not isinstance(value, bool))
