"""LangChain callback custom events -> the graph's custom stream.

``adispatch_custom_event`` / ``dispatch_custom_event`` (and CopilotKit's
``copilotkit_emit_state`` & co. built on them) reach callback handlers only,
never ``astream``'s stream modes. One handler, which ignores every other
callback, writes each such event into the custom stream of the task that
dispatched it, so it arrives in order and with its subgraph namespace
(docs/adr/0008-drop-in-compatibility.md).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.config import get_stream_writer

from graphwire.protocol import DispatchedEvent


class DispatchedEventsToStream(BaseCallbackHandler):
    """Forwards custom events into the stream; ignores everything else."""

    run_inline = True  # in the dispatching task's context, where its stream writer is
    ignore_llm = True
    ignore_chat_model = True
    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_retry = True

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        get_stream_writer()(DispatchedEvent(name, data))


FORWARD_DISPATCHED_EVENTS = DispatchedEventsToStream()
"""The one (stateless) handler every run's config carries."""
