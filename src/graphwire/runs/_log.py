"""The ordered event log of one run: seq 1, 2, 3 ... ; replay and live tail are
one path (read after seq N, then wait for more)."""

from __future__ import annotations

import asyncio

from ag_ui.core import BaseEvent, EventType

_TERMINAL = frozenset({EventType.RUN_FINISHED, EventType.RUN_ERROR})


def encode_event(event: BaseEvent) -> str:
    """An event's wire JSON (camelCase; the SDK's models leave out unset fields)."""
    return event.model_dump_json(by_alias=True)


class RunLog:
    """Events as JSON text, numbered from 1; closed by the terminal event."""

    def __init__(self) -> None:
        self._frames: list[str] = []
        self._closed = False
        self._changed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_seq(self) -> int:
        return len(self._frames)

    def append(self, event: BaseEvent) -> int:
        """Append one event; returns its seq. Nothing may follow the terminal event."""
        if self._closed:
            raise RuntimeError("the run's log is closed")
        self._frames.append(encode_event(event))
        self._closed = event.type in _TERMINAL
        self._changed.set()
        self._changed = asyncio.Event()
        return len(self._frames)

    def after(self, seq: int) -> list[str]:
        """The events after ``seq`` (their seqs are seq+1, seq+2, ...)."""
        return self._frames[max(seq, 0) :]

    async def wait(self, seq: int, timeout: float) -> bool:
        """Wait until there is an event after ``seq`` or the log closes; False on timeout."""
        if len(self._frames) > seq or self._closed:
            return True
        changed = self._changed
        try:
            async with asyncio.timeout(timeout):
                await changed.wait()
        except TimeoutError:
            return False
        return True
