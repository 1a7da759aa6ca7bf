"""The protocol's floor for bench/turns_bench.py: what any AG-UI server must do
for one chat turn, and nothing else — no graph, no store.

It reads the body as ag-ui-protocol's ``RunAgentInput`` (every message
validated, as a server must), and answers with the events graphwire sends
for bench/graphs.py's 23-token chat: RUN_STARTED, the reply's text events,
a MESSAGES_SNAPSHOT of the client's messages and the reply, RUN_FINISHED,
each encoded by ag-ui-protocol's ``EventEncoder``. It holds no thread: its
growth per turn is the history sent both ways, parsed and written.

Run: .venv/bin/python bench/floor_server.py PORT
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import uvicorn
from ag_ui.core import (
    AssistantMessage,
    BaseEvent,
    MessagesSnapshotEvent,
    RunAgentInput,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
)
from ag_ui.encoder import EventEncoder

WORDS = ["tok"] * 12
"""bench/graphs.py's chat: 23 tokens, 12 words."""

Scope = dict[str, Any]


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/healthz":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    body = bytearray()
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    run = RunAgentInput.model_validate_json(body)
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    encoder = EventEncoder()
    for event in _events(run):
        chunk = encoder.encode(event).encode()
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _events(run: RunAgentInput) -> list[BaseEvent]:
    reply = f"ai-{uuid.uuid4().hex}"
    text = " ".join(WORDS)
    deltas = [word if n == 0 else f" {word}" for n, word in enumerate(WORDS)]
    answer = AssistantMessage(id=reply, content=text)
    return [
        RunStartedEvent(thread_id=run.thread_id, run_id=run.run_id),
        TextMessageStartEvent(message_id=reply),
        *(TextMessageContentEvent(message_id=reply, delta=delta) for delta in deltas),
        TextMessageEndEvent(message_id=reply),
        MessagesSnapshotEvent(messages=[*run.messages, answer]),
        RunFinishedEvent(thread_id=run.thread_id, run_id=run.run_id),
    ]


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        loop="uvloop",
        http="httptools",
        lifespan="on",
    )
