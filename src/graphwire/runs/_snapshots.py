"""A thread's MESSAGES_SNAPSHOT, run after run, converted and written once per message.

Every run ends with the thread's whole history as AG-UI messages, so without
this a turn converts (pydantic models) and writes (JSON) every message the
thread ever had. ``SnapshotMemo`` keeps, for each LangChain message of the
thread's last snapshot, the AG-UI messages it converted to and their JSON,
with a deep copy of the message's fields (``protocol.unchanged``): the same
message object, unchanged, is neither converted nor written again. The event
is the SDK's ``MessagesSnapshotEvent``; its messages list carries their JSON
(``Written``), which ``encode_event`` writes as it is while the list holds
the very models it was made with. Those models are graphwire's own, made
here and never changed; the registry keeps one memo per thread, bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ag_ui.core import Message, MessagesSnapshotEvent
from langchain_core.messages import BaseMessage

from graphwire.protocol import comparable, to_agui_messages, unchanged
from graphwire.runs._encode import Written, encode_model


@dataclass(slots=True)
class _Entry:
    message: BaseMessage
    fields: dict[str, Any]
    models: list[Message]
    texts: list[str]
    remembered: bool
    """Whether equality with ``fields`` tells if the message changes: if not,
    it is converted anew in every snapshot, the others still remembered."""

    @property
    def cost(self) -> int:
        """Memory it holds, roughly: the copy and the models (~2.5 kB for a
        short message), the JSON."""
        return 2_500 + 3 * sum(map(len, self.texts))


class SnapshotMemo:
    """MESSAGES_SNAPSHOT events for one thread's runs, one after another."""

    __slots__ = ("_known", "size")

    def __init__(self) -> None:
        self._known: dict[int, _Entry] = {}
        self.size = 0
        """What the entries of the last snapshot hold (``_Entry.cost``)."""

    def event(self, messages: Sequence[Any]) -> MessagesSnapshotEvent:
        """The snapshot of ``messages`` (the thread's, at the run's end)."""
        known, self._known, self.size = self._known, {}, 0
        models: list[Message] = []
        texts: list[str] = []
        for message in messages:
            entry = known.get(id(message))
            if entry is None or not unchanged(message, entry.fields):  # entries keep their ids
                entry = _entry(message)
            if entry is None:  # not a LangChain message, or its JSON needs the SDK
                return MessagesSnapshotEvent(messages=to_agui_messages(messages))
            if entry.remembered:
                self._known[id(message)] = entry
                self.size += entry.cost
            models += entry.models
            texts += entry.texts
        return MessagesSnapshotEvent.model_construct(messages=Written(models, texts))


def _entry(message: Any) -> _Entry | None:
    if not isinstance(message, BaseMessage):
        return None
    fields = message.model_dump()
    models = to_agui_messages([message])
    texts = [encode_model(model) for model in models]
    if any(text is None for text in texts):
        return None
    written = [text for text in texts if text is not None]
    return _Entry(message, fields, models, written, comparable(message, fields))
