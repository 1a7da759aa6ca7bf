"""Fakes that ship with graphwire, for users' tests and the keyless demo."""

from __future__ import annotations

from graphwire.testing._scripted_model import ScriptedChatModel

__all__ = ["ScriptedChatModel"]
