"""Input that would fail late, refused before a run starts: values no
checkpoint can store and give back as JSON, client state of the wrong type for the graph, and an
empty first run on a thread (which LangGraph refuses from inside the run)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, get_type_hints

from ag_ui.core import RunAgentInput
from langgraph.pregel import Pregel
from pydantic import PydanticUserError, TypeAdapter, ValidationError

from graphwire.protocol import ErrorCode, InputError, unstorable
from graphwire.runs._driver import read_thread


def check_values(run: RunAgentInput) -> None:
    """Raise ``InputError`` for a value in ``run`` no checkpoint can store: the
    first check of every run's input, a task's review answer included."""
    payloads = [entry.payload for entry in run.resume or ()]
    for where, value in (
        ("state", run.state),
        ("resume", payloads),
        ("forwardedProps", run.forwarded_props),
        ("tools", [tool.parameters for tool in run.tools or ()]),  # kept in state
    ):
        problem = unstorable(value)
        if problem is not None:
            raise InputError(ErrorCode.INVALID_INPUT, f"{where} holds {problem}")


async def check_input(graph: Pregel[Any, Any], run: RunAgentInput, thread_key: str) -> None:
    """Raise ``InputError`` for input the run would accept and then fail on
    (after ``check_values``)."""
    state = run.state if isinstance(run.state, Mapping) else {}
    _check_state_types(graph, state)
    if not run.messages and not state:  # a resume too: an empty thread waits for none
        thread = await read_thread(graph, thread_key)
        if not thread.messages and not thread.values and not thread.pending_interrupt_ids:
            raise InputError(
                ErrorCode.INVALID_INPUT, "a thread's first run needs a message or some state"
            )


def _check_state_types(graph: Pregel[Any, Any], state: Mapping[str, Any]) -> None:
    """Each key the graph's input schema types: the client's value must fit it
    (``turns: "x"`` for ``turns: int`` would break the thread for every run)."""
    builder = getattr(graph, "builder", None)
    schema = getattr(builder, "input_schema", None)
    if schema is None or not state:
        return
    validators = _validators(schema)
    for key, value in state.items():
        validate = validators.get(key)
        if validate is None:
            continue
        try:
            validate(value)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise InputError(
                ErrorCode.INVALID_INPUT, f"state key {key!r} does not fit the graph: {problem}"
            ) from exc


@lru_cache(maxsize=64)
def _validators(schema: type) -> dict[str, Callable[[Any], Any]]:
    """One validator per typed key of a state schema (keys pydantic cannot
    describe go unchecked)."""
    try:
        hints = get_type_hints(schema, include_extras=True)
    except (NameError, TypeError):
        return {}
    validators: dict[str, Callable[[Any], Any]] = {}
    for key, hint in hints.items():
        if key == "messages":
            continue  # messages travel as messages, not as state
        try:
            validators[key] = TypeAdapter(hint).validate_python
        except (PydanticUserError, NameError):
            continue
    return validators
