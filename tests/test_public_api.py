"""The curated public API: __all__ is exactly what the package promises."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

import graphwire
import graphwire.chat
import graphwire.client
import graphwire.protocol


def test_top_level_all_names_exactly_the_public_objects() -> None:
    public = {
        name
        for name, value in vars(graphwire).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert sorted(graphwire.__all__) == sorted(public)
    # What an embedder needs is at the top; the protocol layer is not.
    assert {"create_app", "ServerOptions", "Agent", "TaskRunner", "ScriptedChatModel"} <= public
    assert not {"AguiMapper", "StreamParser", "GraphRun"} & public
    assert {"AguiMapper", "StreamParser"} <= set(graphwire.protocol.__all__)


def test_every_exception_descends_from_graphwire_error() -> None:
    assert issubclass(graphwire.InputError, graphwire.GraphwireError)
    assert issubclass(graphwire.TaskError, graphwire.GraphwireError)
    assert all(hasattr(graphwire.protocol, name) for name in graphwire.protocol.__all__)


def test_protocol_imports_nothing_of_ours_outside_itself() -> None:
    root = Path(graphwire.protocol.__file__).parent
    for source in root.glob("*.py"):
        for line in source.read_text().splitlines():
            if line.startswith(("import graphwire", "from graphwire")):
                assert line.split()[1].startswith("graphwire.protocol"), (source.name, line)


def test_imports_go_one_way() -> None:
    """protocol <- runs <- tasks <- server: no layer imports one above it."""
    root = Path(graphwire.__file__).parent
    above = {
        "runs": ("tasks", "server"),
        "tasks": ("server",),
        "client": ("runs", "tasks", "server", "host"),  # a client: the wire and nothing else
    }
    for layer, banned in above.items():
        for source in (root / layer).rglob("*.py"):
            for line in source.read_text().splitlines():
                if line.startswith(("import graphwire.", "from graphwire.")):
                    module = line.split()[1].split(".")[1]
                    assert module not in banned, (source.name, line)


def test_packages_reach_each_other_only_through_public_names() -> None:
    """A ``_private`` module is its package's business alone."""
    root = Path(graphwire.__file__).parent
    for source in root.rglob("*.py"):
        package = source.relative_to(root).parts[0] if source.parent != root else None
        for line in source.read_text().splitlines():
            if not line.startswith("from graphwire."):
                continue
            parts = line.split()[1].split(".")
            private = [p for p in parts[1:] if p.startswith("_")]
            if private:
                assert parts[1] == package, (str(source.relative_to(root)), line)


def test_no_package_imports_one_that_imports_it_back() -> None:
    """Package-level imports form no cycle (``tasks`` <-> ``tasks.stores`` once did)."""
    root = Path(graphwire.__file__).parent
    edges: dict[str, set[str]] = {}
    for source in root.rglob("*.py"):
        package = _package_of(root, source)
        if source.name != "__init__.py":  # a module importing its own package's __init__
            assert f"from {package} import " not in source.read_text(), source
        for target in _imported(source):
            other = _target_package(root, target)
            if other is not None and other != package:
                edges.setdefault(package, set()).add(other)
    for start, targets in edges.items():
        seen, todo = set(), list(targets)
        while todo:
            current = todo.pop()
            assert current != start, f"{start} imports itself back through {sorted(seen)}"
            if current not in seen:
                seen.add(current)
                todo.extend(edges.get(current, ()))


def _package_of(root: Path, source: Path) -> str:
    parts = source.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1])


def _imported(source: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("graphwire"):
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names if a.name.startswith("graphwire"))
    return names


def _target_package(root: Path, dotted: str) -> str | None:
    """The package a ``graphwire...`` name lives in (a package is its own)."""
    parts = dotted.split(".")
    while parts:
        path = root.parent.joinpath(*parts)
        if path.is_dir():
            return ".".join(parts)
        if path.with_suffix(".py").is_file():
            return ".".join(parts[:-1])
        parts.pop()
    return None


PUBLIC_MODULES = [
    graphwire,
    graphwire.chat,
    graphwire.client,
    graphwire.protocol,
    graphwire.runs,
    graphwire.server,
    graphwire.tasks,
    graphwire.host,
    graphwire.testing,
]


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_every_public_class_and_method_says_what_it_is(module: Any) -> None:
    undocumented = []
    for name in module.__all__:
        value = getattr(module, name)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue  # constants and type aliases
        if not (inspect.getdoc(value) or "").strip():
            undocumented.append(name)
        if inspect.isclass(value):
            undocumented.extend(f"{name}.{attr}" for attr in _undocumented_members(value))
    assert undocumented == []


def _undocumented_members(cls: type) -> list[str]:
    """Public methods and properties defined by ``cls`` (ours) without a docstring."""
    missing = []
    for attr in vars(cls):
        member = getattr(cls, attr)
        ours = (getattr(member, "__module__", None) or "graphwire").startswith("graphwire")
        kind = callable(member) or isinstance(inspect.getattr_static(cls, attr), property)
        if not attr.startswith("_") and ours and kind and not inspect.getdoc(member):
            missing.append(attr)
    return missing
