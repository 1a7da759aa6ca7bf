"""Pure protocol code: LangGraph stream parts <-> AG-UI 1.0. No I/O here."""

from __future__ import annotations

from graphwire.protocol._close import closing_events
from graphwire.protocol._events import DispatchedEvent, InterruptRaised, ParsedEvent
from graphwire.protocol._inputs import (
    CONFIG_KEY,
    Breakpoint,
    GraphCall,
    ThreadView,
    cancelled_resume,
    check_answers,
    frontend_tool_specs,
    is_cancelled_resume,
    is_resume,
    plan_run,
)
from graphwire.protocol._interrupts import to_agui_interrupt
from graphwire.protocol._mapper import (
    LEGACY_INTERRUPT_EVENT,
    AguiMapper,
    InterruptChannel,
    MapperOptions,
    RunInfo,
)
from graphwire.protocol._messages import to_agui_messages, to_langchain_messages
from graphwire.protocol._parser import STREAM_MODES, StreamParser
from graphwire.protocol._state import DEFAULT_HIDDEN_KEYS, visible_state
from graphwire.protocol._storable import unstorable
from graphwire.protocol._tools import bind_frontend_tools, frontend_tools
from graphwire.protocol._unchanged import comparable, unchanged
from graphwire.protocol.errors import ErrorCode, GraphwireError, InputError, StoreUnavailableError

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_HIDDEN_KEYS",
    "LEGACY_INTERRUPT_EVENT",
    "STREAM_MODES",
    "AguiMapper",
    "Breakpoint",
    "DispatchedEvent",
    "ErrorCode",
    "GraphCall",
    "GraphwireError",
    "InputError",
    "InterruptChannel",
    "InterruptRaised",
    "MapperOptions",
    "ParsedEvent",
    "RunInfo",
    "StoreUnavailableError",
    "StreamParser",
    "ThreadView",
    "bind_frontend_tools",
    "cancelled_resume",
    "check_answers",
    "closing_events",
    "comparable",
    "frontend_tool_specs",
    "frontend_tools",
    "is_cancelled_resume",
    "is_resume",
    "plan_run",
    "to_agui_interrupt",
    "to_agui_messages",
    "to_langchain_messages",
    "unchanged",
    "unstorable",
    "visible_state",
]
