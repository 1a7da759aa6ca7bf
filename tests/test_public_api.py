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
    assert {"GraphRun", "AguiMapper", "ErrorCode", "bind_frontend_tools"} <= public


def test_every_exception_descends_from_graphwire_error() -> None:
    assert issubclass(graphwire.InputError, graphwire.GraphwireError)
    assert all(hasattr(graphwire.protocol, name) for name in graphwire.protocol.__all__)


def test_protocol_imports_nothing_of_ours_outside_itself() -> None:
    root = Path(graphwire.protocol.__file__).parent
    for source in root.glob("*.py"):
        for line in source.read_text().splitlines():
            if line.startswith(("import graphwire", "from graphwire")):
                assert line.split()[1].startswith("graphwire.protocol"), (source.name, line)
