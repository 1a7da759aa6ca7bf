"""A Python AG-UI client for graphwire servers (``GraphwireClient``): runs as
streams of the SDK's event models that re-attach by themselves, resumes by
interrupt id, cancel, threads and the task board; server errors as typed
exceptions carrying the server's code. ``SyncGraphwireClient`` is the same
for scripts; ``print_run`` renders a run as plain text, ``display_run`` live in a notebook."""

from __future__ import annotations

from graphwire.client._answers import DISMISSED, Answer, approve, reject
from graphwire.client._client import GraphwireClient, RunStream
from graphwire.client._errors import (
    ClientError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)
from graphwire.client._notebook import ApprovalForm, RunView, display_run
from graphwire.client._render import PrintRenderer, aprint_run, print_run
from graphwire.client._result import RunResult
from graphwire.client._sync import SyncGraphwireClient, SyncRunStream

__all__ = [
    "DISMISSED",
    "Answer",
    "ApprovalForm",
    "ClientError",
    "ConflictError",
    "GraphwireClient",
    "InvalidRequestError",
    "NotFoundError",
    "PrintRenderer",
    "RunResult",
    "RunStream",
    "RunView",
    "SyncGraphwireClient",
    "SyncRunStream",
    "UnauthorizedError",
    "UnavailableError",
    "approve",
    "aprint_run",
    "display_run",
    "print_run",
    "reject",
]
