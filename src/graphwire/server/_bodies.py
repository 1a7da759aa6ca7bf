"""Request input: bodies read within the size limit and validated into pydantic
models; the Last-Event-ID a re-attaching client sends."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from graphwire.server._errors import ApiError

M = TypeVar("M", bound=BaseModel)


def last_event_id(request: Request) -> int:
    """Where a re-attaching client resumes: the Last-Event-ID header (or the
    ``lastEventId`` query parameter, for EventSource-less clients); 0 if none."""
    raw = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    try:
        return int(raw or 0)
    except ValueError as exc:
        raise ApiError(422, "INVALID_INPUT", "Last-Event-ID must be a number") from exc


async def read_model(request: Request, model: type[M], max_bytes: int) -> M:
    """The body as ``model``: 413 over ``max_bytes``, 422 with pydantic's details."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, "BODY_TOO_LARGE", f"body exceeds {max_bytes} bytes")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        details = json.loads(exc.json(include_url=False, include_input=False))
        raise ApiError(
            422, "INVALID_INPUT", f"the body is not a valid {model.__name__}", details
        ) from exc
