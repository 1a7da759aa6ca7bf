"""Request bodies: read within the size limit, validate into a pydantic model."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from graphwire.server._errors import ApiError

M = TypeVar("M", bound=BaseModel)


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
