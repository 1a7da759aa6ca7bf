"""The curated public API: __all__ is exactly what the package promises."""

from __future__ import annotations

from pathlib import Path

import graphwire
import graphwire.protocol


def test_top_level_all_is_curated_and_importable() -> None:
    assert sorted(graphwire.__all__) == [
        "AguiMapper",
        "ErrorCode",
        "GraphRun",
        "GraphwireError",
        "InputError",
        "MapperOptions",
        "RunInfo",
        "RunOptions",
        "StreamParser",
        "bind_frontend_tools",
        "cancelled_resume",
        "frontend_tools",
        "is_cancelled_resume",
    ]
    for name in graphwire.__all__:
        assert getattr(graphwire, name) is not None


def test_every_exception_descends_from_graphwire_error() -> None:
    assert issubclass(graphwire.InputError, graphwire.GraphwireError)
    assert all(hasattr(graphwire.protocol, name) for name in graphwire.protocol.__all__)


def test_protocol_imports_nothing_of_ours_outside_itself() -> None:
    root = Path(graphwire.protocol.__file__).parent
    for source in root.glob("*.py"):
        for line in source.read_text().splitlines():
            if line.startswith(("import graphwire", "from graphwire")):
                assert line.split()[1].startswith("graphwire.protocol"), (source.name, line)
