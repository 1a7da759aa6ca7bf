"""Loading agents from specs: ``pkg.module:attr`` or ``path/to/file.py:attr``.

The attribute is a compiled graph or a factory (no arguments) returning one.
Every failure says why, as a ``SpecError``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.pregel import Pregel

from graphwire.protocol import GraphwireError


class SpecError(GraphwireError):
    """An agent spec cannot be loaded; the message says why."""


@dataclass(frozen=True, slots=True)
class AgentSpec:
    name: str
    target: str
    """``module:attr`` or ``file.py:attr``."""


def parse_spec(text: str) -> AgentSpec:
    """``[NAME=]SPEC``; the name defaults to the attribute."""
    name, sep, target = text.partition("=")
    if not sep:
        name, target = "", text
    module, colon, attr = target.rpartition(":")
    if not colon or not module or not attr.isidentifier():
        raise SpecError(f"{text!r} is not a spec: use pkg.module:attr or path/file.py:attr")
    return AgentSpec(name or attr, target)


def load_graph(spec: AgentSpec) -> Pregel[Any, Any]:
    """Import the spec's target and return its compiled graph."""
    location, _, attr = spec.target.rpartition(":")
    module = _import(location)
    if not hasattr(module, attr):
        raise SpecError(f"{location} has no attribute {attr!r}")
    value = getattr(module, attr)
    if not isinstance(value, Pregel) and callable(value):
        value = value()
    if not isinstance(value, Pregel):
        raise SpecError(
            f"{spec.target} is a {type(value).__name__}, not a compiled LangGraph graph "
            "(call .compile() on your StateGraph, or point at a factory returning one)"
        )
    return value


def _import(location: str) -> Any:
    if location.endswith(".py"):
        return _import_file(Path(location))
    try:
        return importlib.import_module(location)
    except ModuleNotFoundError as exc:
        if exc.name == location or location.startswith(f"{exc.name}."):
            raise SpecError(f"no module named {location!r}") from exc
        raise SpecError(_import_failure(location, exc)) from exc
    except Exception as exc:
        raise SpecError(_import_failure(location, exc)) from exc


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise SpecError(f"file {str(path)!r} does not exist")
    name = f"graphwire_agent_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SpecError(f"cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise SpecError(_import_failure(str(path), exc)) from exc
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _import_failure(location: str, exc: BaseException) -> str:
    trace = "".join(traceback.format_exception(exc))
    return f"importing {location} failed:\n{trace}"
