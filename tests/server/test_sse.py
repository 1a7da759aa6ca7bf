"""The SSE response driven by hand-written receive/send, with a time bound."""

from __future__ import annotations

import asyncio
from typing import Any

from ag_ui.core import RunFinishedEvent, RunStartedEvent

from graphwire.runs import RunLog
from graphwire.server._sse import EventStream, RunLogSource


async def test_a_client_that_stops_reading_is_treated_as_gone() -> None:
    log = RunLog()
    log.append(RunStartedEvent(thread_id="t", run_id="r"))
    stopped: list[bool] = []
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            await never.wait()  # the client's window is full: the send never completes

    stream = EventStream(
        RunLogSource(log),
        0,
        keepalive=10,
        send_timeout=0.1,
        on_disconnect=lambda: stopped.append(True),
    )
    async with asyncio.timeout(5):
        await stream({"type": "http"}, receive, send)
    assert stopped == [True]


async def test_replay_after_last_event_id_then_end() -> None:
    log = RunLog()
    log.append(RunStartedEvent(thread_id="t", run_id="r"))
    log.append(RunFinishedEvent(thread_id="t", run_id="r"))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with asyncio.timeout(5):
        await EventStream(RunLogSource(log), 1, keepalive=10, send_timeout=1)(
            {"type": "http"}, receive, send
        )
    bodies = b"".join(m.get("body", b"") for m in sent)
    assert bodies.startswith(b'id: 2\ndata: {"type":"RUN_FINISHED"')
    assert sent[-1]["more_body"] is False
