"""Loading agents from specs: ``pkg.module:attr`` or ``path/to/file.py:attr``.

The attribute is a compiled graph or a factory (no arguments) returning one.
Every failure says why, as a ``SpecError``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.pregel import Pregel

from graphwire.protocol import GraphwireError, InterruptChannel


class SpecError(GraphwireError):
    """An agent spec cannot be loaded; the message says why."""


@dataclass(frozen=True, slots=True)
class AgentSpec:
    name: str
    target: str
    """``module:attr`` or ``file.py:attr``."""
    interrupt_channel: InterruptChannel | None = None
    """The agent's own ``interrupt_channel`` (graphwire.toml); None: the server's."""


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
    resolved = path.resolve()
    name = file_module_name(resolved)
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(resolved):
        return loaded
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise SpecError(f"cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as ``import`` does: the checkpointer's serializer
    # finds the module's dataclasses and pydantic models by this name (ADR 0008).
    sys.modules[name] = module
    sys.path.insert(0, str(resolved.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise SpecError(_import_failure(str(path), exc)) from exc
    finally:
        sys.path.remove(str(resolved.parent))
    return module


def file_module_name(path: Path, cwd: Path | None = None) -> str:
    """The module name a file spec is imported under: its dotted path from the
    working directory (``examples/plain_agent/agent.py`` ->
    ``examples.plain_agent.agent``), the same on every start, unless another
    module already answers to that name (``copy.py`` is not the standard
    library's ``copy``); otherwise a name derived from its absolute path."""
    base = (cwd or Path.cwd()).resolve()
    if path.is_relative_to(base):
        parts = path.relative_to(base).with_suffix("").parts
        name = ".".join(parts)
        if all(part.isidentifier() for part in parts) and _free(name, path, base):
            return name
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    stem = path.stem if path.stem.isidentifier() else "agent"
    return f"graphwire_file_{stem}_{digest}"


def _free(name: str, path: Path, base: Path) -> bool:
    """No other module answers to ``name``: what its first part finds on the path
    (looked up without importing anything) is the file itself or its folder."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return getattr(loaded, "__file__", None) == str(path)
    top = name.partition(".")[0]
    found = importlib.util.find_spec(top)
    if found is None:
        return True
    folders = [Path(p).resolve() for p in found.submodule_search_locations or ()]
    return found.origin == str(path) or (base / top) in folders


def _import_failure(location: str, exc: BaseException) -> str:
    trace = "".join(traceback.format_exception(exc))
    return f"importing {location} failed:\n{trace}"
