"""A run shown live in a Jupyter notebook: one output cell, updated as events
come — the messages, tool calls and their results, the state, what the run
waits for, how it ended. Built on the same ``RunResult`` the client folds.

IPython is not a dependency: ``display_run`` takes IPython's ``display`` when
it is installed, or any function with its signature.
"""

from __future__ import annotations

import html
import importlib
import json
from collections.abc import Callable
from typing import Any, Protocol

from ag_ui.core import AssistantMessage, ToolMessage, UserMessage
from pydantic_core import to_jsonable_python

from graphwire.client._client import RunStream
from graphwire.client._result import RunResult


class _Handle(Protocol):
    def update(self, obj: Any) -> None: ...


Display = Callable[..., Any]
"""``IPython.display.display``: ``display(obj, display_id=True)`` returns a
handle whose ``update(obj)`` replaces what it shows."""


class RunView:
    """What one run looks like as HTML (Jupyter renders ``_repr_html_``)."""

    def __init__(self, result: RunResult) -> None:
        self.result = result

    def _repr_html_(self) -> str:
        result = self.result
        parts = [f"<div class='graphwire-run'><b>run {_e(result.run_id)}</b>"]
        parts.extend(_message(m) for m in result.messages)
        if result.state:
            parts.append(f"<details><summary>state</summary><pre>{_json(result.state)}</pre>")
            parts.append("</details>")
        for waiting in result.interrupts:
            text = waiting.message or waiting.reason
            parts.append(f"<p>⏸ waiting for <code>{_e(waiting.id)}</code>: {_e(text)}</p>")
        if result.error is not None:
            parts.append(f"<p>✖ {_e(result.error.code or '')}: {_e(result.error.message)}</p>")
        elif result.outcome is not None:
            parts.append(f"<p><i>{_e(result.outcome)}</i></p>")
        return "".join(parts) + "</div>"

    def __repr__(self) -> str:
        return f"RunView({self.result.run_id}, {self.result.outcome or 'running'})"


async def display_run(stream: RunStream, display: Display | None = None) -> RunResult:
    """Show a run (``GraphwireClient.run(...)``) live in the notebook cell; its
    result once it has ended."""
    show = display or _ipython_display()
    view = RunView(stream.result)
    handle: _Handle | None = show(view, display_id=True)  # None outside a kernel
    async with stream:  # an interrupted cell cancels the run
        async for _ in stream:
            if handle is not None:
                handle.update(view)
    return stream.result


def _ipython_display() -> Display:
    try:
        module = importlib.import_module("IPython.display")  # optional: notebooks only
    except ImportError as exc:
        raise RuntimeError("display_run needs IPython (a notebook), or a display function") from exc
    display: Display = module.display
    return display


def _message(message: Any) -> str:
    if isinstance(message, UserMessage):
        return f"<p>🧑 {_e(_plain(message.content))}</p>"
    if isinstance(message, AssistantMessage):
        calls = "".join(
            f"<p>🔧 <code>{_e(c.function.name)}({_e(c.function.arguments)})</code></p>"
            for c in message.tool_calls or ()
        )
        return f"<p>🤖 {_e(message.content or '')}</p>{calls}"
    if isinstance(message, ToolMessage):
        return f"<p>↳ <code>{_e(_plain(message.content))}</code></p>"
    return ""


def _plain(content: Any) -> str:
    """A message's text (multimodal parts: their text parts)."""
    if isinstance(content, str):
        return content
    return " ".join(str(getattr(part, "text", "")) for part in content or ())


def _e(text: str) -> str:
    return html.escape(str(text))


def _json(value: Any) -> str:
    return _e(json.dumps(to_jsonable_python(value), indent=2, ensure_ascii=False))
