"""Runs: drive one graph run through the protocol mapping; track active runs."""

from __future__ import annotations

from graphwire.runs._checks import check_input, check_values
from graphwire.runs._claims import ClaimKeeper, ThreadClaims
from graphwire.runs._dispatch import FORWARD_DISPATCHED_EVENTS
from graphwire.runs._driver import (
    GraphRun,
    RunOptions,
    agent_of,
    breakpoint_of,
    check_agent,
    read_thread,
)
from graphwire.runs._durable import RunLogs, StoredLog, StoredRun
from graphwire.runs._encode import encode_event
from graphwire.runs._log import EventSink, Frames, RunLog
from graphwire.runs._registry import (
    OnDisconnect,
    RunEndedError,
    RunExistsError,
    RunExpiredError,
    RunNotFoundError,
    RunRecord,
    RunRegistry,
    ThreadBusyError,
    thread_key,
)
from graphwire.runs._stopping import Deadline, stop_within

__all__ = [
    "FORWARD_DISPATCHED_EVENTS",
    "ClaimKeeper",
    "Deadline",
    "EventSink",
    "Frames",
    "GraphRun",
    "OnDisconnect",
    "RunEndedError",
    "RunExistsError",
    "RunExpiredError",
    "RunLog",
    "RunLogs",
    "RunNotFoundError",
    "RunOptions",
    "RunRecord",
    "RunRegistry",
    "StoredLog",
    "StoredRun",
    "ThreadBusyError",
    "ThreadClaims",
    "agent_of",
    "breakpoint_of",
    "check_agent",
    "check_input",
    "check_values",
    "encode_event",
    "read_thread",
    "stop_within",
    "thread_key",
]
