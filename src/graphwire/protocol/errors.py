"""The exception root and the stable error codes graphwire puts on the wire.

Codes are part of the public contract: clients branch on them, so they never
change meaning once released (docs/adr/0002-event-mapping.md).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable machine-readable codes for RUN_ERROR events and error bodies."""

    AGENT_ERROR = "AGENT_ERROR"
    """The graph raised; the message is safe, the traceback is logged."""
    RECURSION_LIMIT = "RECURSION_LIMIT"
    """The graph hit LangGraph's recursion limit."""
    INVALID_INPUT = "INVALID_INPUT"
    """The RunAgentInput cannot be turned into graph input."""
    INTERRUPT_PENDING = "INTERRUPT_PENDING"
    """New input arrived while the thread waits for answers to interrupts."""
    UNKNOWN_INTERRUPT = "UNKNOWN_INTERRUPT"
    """A resume entry names an interrupt the thread is not waiting for."""
    RESUME_INCOMPLETE = "RESUME_INCOMPLETE"
    """A resume list leaves an open interrupt unanswered."""
    THREAD_OF_ANOTHER_AGENT = "THREAD_OF_ANOTHER_AGENT"
    """The thread belongs to another agent served here (agents share the store:
    one graph's run would overwrite the other's state)."""
    INTERNAL_ERROR = "INTERNAL_ERROR"
    """graphwire itself failed while mapping the run."""
    TASK_NOT_FOUND = "TASK_NOT_FOUND"
    """No task with that id."""
    TASK_STATE_CONFLICT = "TASK_STATE_CONFLICT"
    """The task's state does not allow the action (details name the state)."""
    TASK_TIMEOUT = "TASK_TIMEOUT"
    """A task's run exceeded the per-task timeout."""
    WORKER_LOST = "WORKER_LOST"
    """The process running a task died; the task runs again from its checkpoint."""
    WORKER_STOPPED = "WORKER_STOPPED"
    """The server stopped while a task ran; the task runs again from its checkpoint."""
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    """The store (checkpoints, tasks) cannot be read or written now; nothing was
    written. Retry later."""


class GraphwireError(Exception):
    """The root of every exception graphwire raises."""


class InputError(GraphwireError):
    """A run's input cannot be accepted; carries a stable code for the client."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StoreUnavailableError(GraphwireError):
    """The store cannot be read or written now (locked past its busy timeout,
    read-only, full, its file deleted or replaced); the operation wrote nothing."""

    code = ErrorCode.STORE_UNAVAILABLE
