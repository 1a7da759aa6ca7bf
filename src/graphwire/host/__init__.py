"""Host: agent spec loading and layered configuration."""

from __future__ import annotations

from graphwire.host._config import (
    INTERRUPT_CHANNELS,
    AgentEntry,
    ConfigError,
    Settings,
    find_config,
    load_settings,
)
from graphwire.host._spec import AgentSpec, SpecError, file_module_name, load_graph, parse_spec

__all__ = [
    "INTERRUPT_CHANNELS",
    "AgentEntry",
    "AgentSpec",
    "ConfigError",
    "Settings",
    "SpecError",
    "file_module_name",
    "find_config",
    "load_graph",
    "load_settings",
    "parse_spec",
]
