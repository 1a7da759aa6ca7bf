"""``graphwire chat``: talk to any graphwire agent from a terminal — streamed
answers, reasoning, tool calls, state, interrupt questions driven by their
``responseSchema``, the task board — built on ``graphwire.client``."""

from __future__ import annotations

from graphwire.chat._prompts import InterruptPrompt
from graphwire.chat._session import TerminalChat, pick_agent
from graphwire.chat._view import ChatView

__all__ = ["ChatView", "InterruptPrompt", "TerminalChat", "pick_agent"]
