"""What of the graph's state a client sees, and how changes travel.

The rule (docs/adr/0002-event-mapping.md): every top-level key of the root
graph's state is shared, except ``messages`` (they travel as messages), keys
starting with ``_``, the frontend-tool carriers ``tools`` and ``copilotkit``,
create_agent's bookkeeping (``remaining_steps``, ``jump_to``) and any key the
operator adds to the hidden set. Values are made JSON-safe; deltas are RFC 6902
patches computed by the ``jsonpatch`` library.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import jsonpatch
from pydantic_core import to_jsonable_python

DEFAULT_HIDDEN_KEYS: Final = frozenset(
    {"messages", "tools", "copilotkit", "remaining_steps", "jump_to"}
)


def as_mapping(values: Any) -> dict[str, Any]:
    """The state as a plain dict (dict, pydantic model or dataclass states)."""
    if isinstance(values, dict):
        return values
    plain = to_jsonable_python(values, fallback=str)
    return plain if isinstance(plain, dict) else {}


def visible_state(values: Any, hidden: Iterable[str]) -> dict[str, Any]:
    """The JSON-safe part of the state a client may see."""
    hidden_keys = frozenset(hidden)
    shared = {
        key: value
        for key, value in as_mapping(values).items()
        if key not in hidden_keys and not key.startswith("_")
    }
    plain: dict[str, Any] = to_jsonable_python(shared, fallback=str)
    return plain


def state_patch(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The RFC 6902 operations that turn ``before`` into ``after``."""
    if before == after:
        return []
    ops: list[dict[str, Any]] = jsonpatch.make_patch(before, after).patch
    return ops
