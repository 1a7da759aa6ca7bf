"""Trusted hosts: a request whose Host header names no host this server answers
to is refused before any route runs. A web page the user visits can make the
browser send requests to a name it controls that resolves to 127.0.0.1 (DNS
rebinding); the Host header still carries that name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from graphwire.server._errors import ApiError

LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")


def host_of(header: str) -> str:
    """The host part of a Host header, lower case, without its port."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


class TrustedHosts:
    """ASGI middleware: 400 ``HOST_NOT_ALLOWED`` unless the request has one Host
    header and it names one of ``hosts`` (names as written, no port)."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self._app = app
        self._hosts = frozenset(host_of(h) for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        # One Host header (RFC 9112 3.2): with two, this check and the URLs the
        # app builds (Starlette reads the first) could each take another.
        named = [value for key, value in scope["headers"] if key == b"host"]
        if len(named) == 1 and host_of(named[0].decode("latin-1")) in self._hosts:
            await self._app(scope, receive, send)
            return
        refusal = ApiError(
            400, "HOST_NOT_ALLOWED", "the request needs one Host header naming a host served here"
        )
        await refusal.response()(scope, receive, send)
