"""A run shown live in a Jupyter notebook: one output cell, updated as events
come — the messages, tool calls and their results, the state, what the run
waits for, how it ended. Built on the same ``RunResult`` the client folds.

IPython is not a dependency: ``display_run`` takes IPython's ``display`` when
it is installed, or any function with its signature; the approval form
appears when ipywidgets is installed (``pip install graphwire[notebook]``).
"""

from __future__ import annotations

import asyncio
import html
import importlib
import json
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, Protocol

import httpx
from ag_ui.core import AssistantMessage, Interrupt, ToolMessage, UserMessage
from pydantic_core import to_jsonable_python

from graphwire.client._answers import Answer, approve, reject
from graphwire.client._client import RunStream
from graphwire.client._errors import ClientError
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
    result once it has ended. A run that waits for answers gets an
    ``ApprovalForm`` under it (with ipywidgets installed); answered, the run
    that resumes is shown in the same output."""
    return await _Output(display or _ipython_display()).follow(stream)


class _Output:
    """One notebook output showing a run, then each run that resumes it; one
    approval form under it, asking again when a resumed run waits again (a
    widget's callback cannot display into the cell: the form is reused)."""

    def __init__(self, show: Display) -> None:
        self._show = show
        self._view: RunView | None = None
        self._handle: _Handle | None = None
        self._form: ApprovalForm | None = None

    async def follow(self, stream: RunStream) -> RunResult:
        if self._view is None:
            self._view = RunView(stream.result)
            self._handle = self._show(self._view, display_id=True)  # None outside a kernel
        else:
            self._view.result = stream.result
        async with stream:  # an interrupted cell cancels the run
            async for _ in stream:
                if self._handle is not None:
                    self._handle.update(self._view)
        if stream.result.outcome == "interrupt":
            self._ask(stream)
        return stream.result

    def _ask(self, stream: RunStream) -> None:
        if self._form is not None:
            self._form.ask(stream)
            return
        widgets = _ipywidgets()
        if widgets is not None:
            self._form = ApprovalForm(stream, self.follow, widgets)
            self._show(self._form)


class ApprovalForm:
    """Approve and Reject buttons, and an answer as JSON, for each interrupt a
    run ended with (ipywidgets). Once each has its answer the thread resumes
    with them (what approve and reject send: ``graphwire.client.approve``)."""

    def __init__(
        self,
        stream: RunStream,
        resume: Callable[[RunStream], Awaitable[RunResult]],
        widgets: ModuleType,
    ) -> None:
        self._widgets = widgets
        self._resume = resume
        self.sent: asyncio.Task[None] | None = None
        """The resumed run, followed, once every interrupt has its answer."""
        self.status = widgets.HTML()
        self.widget = widgets.VBox()
        self.ask(stream)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Shown as its widget."""
        return self.widget._repr_mimebundle_(**kwargs)

    def ask(self, stream: RunStream) -> None:
        """Ask for the answers to what ``stream``'s run waits for."""
        self._stream = stream
        self._answers: dict[str, Answer] = {}
        self.rows = {i.id: _Row(self._widgets, i, self.answer) for i in stream.result.interrupts}
        self.status.value = ""
        self.widget.children = [*(row.box for row in self.rows.values()), self.status]

    def answer(self, interrupt_id: str, answer: Answer) -> None:
        """Answer one interrupt (what its buttons do); the last answer resumes."""
        self._answers[interrupt_id] = answer
        self.rows[interrupt_id].answered(answer)
        if len(self._answers) == len(self.rows):
            self.sent = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        self.status.value = "sending ..."
        try:
            result = await self._resume(self._stream.answer(self._answers))
        except ClientError as exc:
            self._refused(exc.code, exc.message)
            return
        except httpx.HTTPError as exc:  # the server could not be reached
            self._refused("UNREACHABLE", str(exc))
            return
        if result.error is not None:  # refused once streaming (a stale interrupt id)
            self._refused(result.error.code or "", result.error.message)
        elif result.outcome != "interrupt":  # else it asks again, on this form
            self.status.value = "sent"

    def _refused(self, code: str, message: str) -> None:
        """Say why, and let the form be answered again."""
        self.status.value = f"✖ {_e(code)}: {_e(message)}"
        self._answers.clear()
        for row in self.rows.values():
            row.reopen()


class _Row:
    """One interrupt's question and its controls."""

    def __init__(
        self, widgets: ModuleType, interrupt: Interrupt, answer: Callable[[str, Answer], None]
    ) -> None:
        self._id, self._answer = interrupt.id, answer
        self.question = widgets.HTML(f"⏸ {_e(interrupt.message or interrupt.reason)}")
        self.approve = widgets.Button(description="Approve", button_style="success")
        self.reject = widgets.Button(description="Reject", button_style="danger")
        self.json = widgets.Text(placeholder="or an answer as JSON")
        self.send = widgets.Button(description="Send")
        self.approve.on_click(lambda _: answer(interrupt.id, approve(interrupt)))
        self.reject.on_click(lambda _: answer(interrupt.id, reject(interrupt)))
        self.send.on_click(lambda _: self._sent_json())
        self.note = widgets.HTML()
        controls = widgets.HBox([self.approve, self.reject, self.json, self.send])
        self.box = widgets.VBox([self.question, controls, self.note])

    def _sent_json(self) -> None:
        try:
            value = json.loads(self.json.value)
        except json.JSONDecodeError as exc:
            self.note.value = f"not JSON: {_e(exc.msg)}"
            return
        self._answer(self._id, Answer(value))

    def answered(self, answer: Answer) -> None:
        self.note.value = "dismissed" if answer.dismissed else f"answer: {_json(answer.payload)}"
        self._enable(False)

    def reopen(self) -> None:
        self.note.value = ""
        self._enable(True)

    def _enable(self, on: bool) -> None:
        for control in (self.approve, self.reject, self.json, self.send):
            control.disabled = not on


def _ipywidgets() -> ModuleType | None:
    try:
        return importlib.import_module("ipywidgets")  # optional: the approval form
    except ImportError:
        return None


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
