"""What the server refused, as exceptions carrying its stable code."""

from __future__ import annotations

from typing import Any

import httpx

from graphwire.protocol import GraphwireError


class ClientError(GraphwireError):
    """The server answered with an error: its HTTP status, its ``code`` (stable,
    e.g. ``THREAD_BUSY``) and its message."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class InvalidRequestError(ClientError):
    """The request was refused as it stands (400, 408, 413, 415, 422)."""


class UnauthorizedError(ClientError):
    """A missing or wrong API key, or the auth hook said no (401)."""


class NotFoundError(ClientError):
    """No such agent, run, thread or task for this caller (404), or a run whose
    events are no longer kept (410 ``RUN_EXPIRED``)."""


class ConflictError(ClientError):
    """The thread is busy, the run id is taken or the run has ended, or the task's
    state does not allow the action (409)."""


class UnavailableError(ClientError):
    """The server cannot do it now (503: ``STORE_UNAVAILABLE``, a full server);
    try again later."""


_BY_STATUS: dict[int, type[ClientError]] = {
    401: UnauthorizedError,
    404: NotFoundError,
    409: ConflictError,
    410: NotFoundError,
    503: UnavailableError,
}


def raise_for_error(response: httpx.Response) -> None:
    """Raise the typed error for a response with a 4xx or 5xx status."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    kind = _BY_STATUS.get(response.status_code)
    if kind is None:
        kind = InvalidRequestError if response.status_code < 500 else ClientError
    raise kind(
        response.status_code,
        str(body.get("code", "HTTP_ERROR")),
        str(body.get("message", response.reason_phrase)),
        body.get("details"),
    )
