"""The curated public API: __all__ is exactly what the package promises."""

from __future__ import annotations

import inspect
from pathlib import Path

import graphwire
import graphwire.protocol


def test_top_level_all_names_exactly_the_public_objects() -> None:
    public = {
        name
        for name, value in vars(graphwire).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert sorted(graphwire.__all__) == sorted(public)
    assert {"GraphRun", "AguiMapper", "ErrorCode", "bind_frontend_tools", "TaskRunner"} <= public


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
    above = {"runs": ("tasks", "server"), "tasks": ("server",)}
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
