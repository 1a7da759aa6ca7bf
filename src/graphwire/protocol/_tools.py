"""Frontend tools for any graph: read them from config and bind them to a model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableConfig

from graphwire.protocol._inputs import CONFIG_KEY


def frontend_tools(config: RunnableConfig | None) -> list[dict[str, Any]]:
    """The tools the AG-UI client offered for this run (``{name, description, parameters}``)."""
    configurable = (config or {}).get("configurable") or {}
    context = configurable.get(CONFIG_KEY) or {}
    return list(context.get("tools") or [])


def bind_frontend_tools(
    model: BaseChatModel, config: RunnableConfig | None, backend_tools: Sequence[Any] = ()
) -> Runnable[LanguageModelInput, AIMessage]:
    """Bind the graph's own tools plus the client's frontend tools to ``model``.

    A call to a frontend tool ends the run with ``pendingToolCallIds`` naming it;
    the client answers with a tool message in the next run's messages.
    """
    runnable: Runnable[LanguageModelInput, AIMessage] = model.bind_tools(
        [*backend_tools, *frontend_tools(config)]
    )
    return runnable
