"""A scripted OpenAI-compatible chat completions server on 127.0.0.1.

Agents written the way the AG-UI dojo and CopilotKit write them call
``ChatOpenAI``; pointed here with ``OPENAI_BASE_URL`` they get answers decided
by ``reply`` from the request (the model name picks the script), streamed as
OpenAI streams them: role chunk, content or tool-call chunks, finish reason.
No key, no network.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: dict[str, Any]


Reply = Text | Call | list[Call]
Script = Callable[[list[dict[str, Any]]], Reply]


@dataclass(slots=True)
class Recorder:
    requests: list[dict[str, Any]] = field(default_factory=list)


def last_user(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def tool_results(messages: list[dict[str, Any]]) -> list[str]:
    """The tool results after the last user message."""
    out: list[str] = []
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        if message.get("role") == "tool":
            out.insert(0, str(message.get("content")))
    return out


def _chunks(model: str, reply: Reply) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0}
    base["model"] = model

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if isinstance(reply, Text):
        words = reply.text.split(" ")
        out += [chunk({"content": w if i == 0 else f" {w}"}) for i, w in enumerate(words)]
        return [*out, chunk({}, "stop")]
    calls = reply if isinstance(reply, list) else [reply]
    for index, call in enumerate(calls):
        args = json.dumps(call.args)
        head = {"index": index, "id": f"call_{call.name}_{index}", "type": "function"}
        out.append(
            chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]})
        )
        for start in range(0, len(args), 12):
            piece = {"index": index, "function": {"arguments": args[start : start + 12]}}
            out.append(chunk({"tool_calls": [piece]}))
    return [*out, chunk({}, "tool_calls")]


def _whole(model: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(reply, Text):
        message["content"] = reply.text
    else:
        calls = reply if isinstance(reply, list) else [reply]
        message["tool_calls"] = [
            {
                "id": f"call_{c.name}_{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.args)},
            }
            for i, c in enumerate(calls)
        ]
    finish = "stop" if isinstance(reply, Text) else "tool_calls"
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


def scripted_app(scripts: dict[str, Script], recorder: Recorder) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        recorder.requests.append(body)
        model = str(body.get("model"))
        script = scripts.get(model)
        if script is None:
            return JSONResponse({"error": {"message": f"no script for {model}"}}, 404)
        reply = script(body.get("messages") or [])
        if not body.get("stream"):
            return JSONResponse(_whole(model, reply))

        async def stream() -> AsyncIterator[bytes]:
            for item in _chunks(model, reply):
                yield f"data: {json.dumps(item)}\n\n".encode()
                await asyncio.sleep(0)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@contextmanager
def scripted_openai(scripts: dict[str, Script]) -> Iterator[tuple[str, Recorder]]:
    """Serve ``scripts`` on a random loopback port, in a thread of its own (so it
    outlives any one test's event loop); yields (base URL ending /v1, recorder)."""
    recorder = Recorder()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(scripted_app(scripts, recorder), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the scripted OpenAI server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1", recorder
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
