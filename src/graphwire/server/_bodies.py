"""Request input: bodies read within the size limit and validated into pydantic
models; ids checked before they reach a header, a log or a store; the
Last-Event-ID a re-attaching client sends."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Final, TypeVar

from ag_ui.core import RunAgentInput
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from graphwire.server._errors import ApiError

M = TypeVar("M", bound=BaseModel)

MAX_EVENT_ID: Final = 2**63 - 1
"""The largest seq a client may name (every store keeps seqs as signed 64-bit)."""
MAX_ID_LENGTH: Final = 256
DOTS: Final = (".", "..")
"""Ids no URL can name: a client resolves them as path segments."""


def last_event_id(request: Request) -> int:
    """Where a re-attaching client resumes: the Last-Event-ID header (or the
    ``lastEventId`` query parameter, for EventSource-less clients); 0 if none.
    Anything but a whole number from 0 to 2**63 - 1 is a 400."""
    raw = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    text = (raw or "0").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_EVENT_ID:
        raise ApiError(
            400,
            "INVALID_LAST_EVENT_ID",
            f"Last-Event-ID must be a whole number from 0 to {MAX_EVENT_ID}",
        )
    return int(text)


def checked_id(value: str, name: str) -> str:
    """An id from a client (thread, run, interrupt, task): printable, at most
    ``MAX_ID_LENGTH`` characters; else 422 ``INVALID_ID``. Ids go into headers,
    logs and stores, where a line break or a control character breaks them, and
    into URLs (percent-encoded: a slash is fine)."""
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable() or value in DOTS:
        raise ApiError(
            422,
            "INVALID_ID",
            f"{name} must be 1 to {MAX_ID_LENGTH} printable characters, not . or ..",
        )
    return value


def check_run_ids(run: RunAgentInput) -> None:
    """Every id in a run's input, checked as ``checked_id`` does."""
    checked_id(run.thread_id, "threadId")
    checked_id(run.run_id, "runId")
    if run.parent_run_id is not None:
        checked_id(run.parent_run_id, "parentRunId")
    for entry in run.resume or ():
        checked_id(entry.interrupt_id, "resume[].interruptId")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How large a request body may be, and how long its reading may take."""

    max_bytes: int = 10 * 1024 * 1024
    timeout: float = 30.0
    """Seconds for the whole body: a client trickling it holds no worker forever."""


async def read_model(request: Request, model: type[M], limits: BodyLimits) -> M:
    """The body as ``model``: 415 unless it is JSON, 413 over the size limit, 408
    past the time limit, 422 with pydantic's details. Only JSON: a cross-site
    form or ``text/plain`` POST (which a browser sends without asking) is
    refused before it is read."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json")
    try:
        async with asyncio.timeout(limits.timeout):
            body = await _body(request, limits.max_bytes)
    except TimeoutError as exc:
        raise ApiError(408, "BODY_TIMEOUT", f"the body took over {limits.timeout} s") from exc
    except ClientDisconnect as exc:
        # Nobody reads this answer; it ends the request without an ASGI error.
        raise ApiError(
            400, "CLIENT_DISCONNECTED", "the client left before its body was read"
        ) from exc
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        details = json.loads(exc.json(include_url=False, include_input=False))
        raise ApiError(
            422, "INVALID_INPUT", f"the body is not a valid {model.__name__}", details
        ) from exc


async def _body(request: Request, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, "BODY_TOO_LARGE", f"body exceeds {max_bytes} bytes")
    return b"".join(chunks)
