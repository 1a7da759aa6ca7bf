"""Layered configuration: defaults < graphwire.toml < GRAPHWIRE_* env < CLI flags.

Every value remembers where it came from, so ``graphwire config`` can say so,
and every error names the key and its source.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from graphwire.protocol import GraphwireError, InterruptChannel

CONFIG_FILE = "graphwire.toml"
ENV_PREFIX = "GRAPHWIRE_"


class ConfigError(GraphwireError):
    """A configuration value is unknown or invalid; names the key and the source."""


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value)
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    return parse


def _positive(kind: Callable[[Any], Any], *, zero: bool = False) -> Callable[[Any], Any]:
    """A number above 0 (or at least 0 with ``zero``)."""

    def parse(value: Any) -> Any:
        number = kind(value)
        if number < 0 or (number == 0 and not zero):
            raise ValueError("must not be negative" if zero else "must be positive")
        return number

    return parse


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("must be a list of strings")


def _optional_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``parse``, with an empty value meaning None (unset)."""

    def optional(value: Any) -> Any:
        return None if value is None or value == "" else parse(value)

    return optional


INTERRUPT_CHANNELS: tuple[str, ...] = get_args(InterruptChannel)
_AGENT_KEYS: dict[str, Callable[[Any], str]] = {
    "spec": str,
    "interrupt_channel": _choice(*INTERRUPT_CHANNELS),
}


def _agents(value: Any) -> dict[str, dict[str, str]]:
    """``name = "spec"`` or ``name = {spec = "...", interrupt_channel = "..."}``."""
    if not isinstance(value, Mapping):
        raise ValueError('must be a table of name = "spec" or name = {spec = "...", ...}')
    return {str(name): _agent(str(name), entry) for name, entry in value.items()}


def _agent(name: str, entry: Any) -> dict[str, str]:
    if isinstance(entry, str):
        return {"spec": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("spec"), str):
        raise ValueError(f'agent {name!r} needs spec = "pkg.module:attr" or "file.py:attr"')
    unknown = sorted(set(entry) - set(_AGENT_KEYS))
    if unknown:
        raise ValueError(f"agent {name!r} has unknown keys {unknown}")
    try:
        return {key: _AGENT_KEYS[key](raw) for key, raw in entry.items()}
    except ValueError as exc:
        raise ValueError(f"agent {name!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Field:
    parse: Callable[[Any], Any]
    default: Any
    help: str


FIELDS: dict[str, Field] = {
    "host": Field(str, "127.0.0.1", "interface to bind"),
    "port": Field(_positive(int), 8000, "port to bind"),
    "reload": Field(_bool, False, "restart on code changes (development)"),
    "log_level": Field(_choice("debug", "info", "warning", "error"), "info", "log level"),
    "data_dir": Field(str, ".graphwire", "where the SQLite file lives"),
    "store": Field(_choice("sqlite", "memory"), "sqlite", "checkpointer for graphs without one"),
    "checkpoint_turns": Field(
        _positive(int, zero=True), 10, "earlier turns a thread can still edit (0: keep all)"
    ),
    "store_busy_timeout_seconds": Field(
        _positive(float), 10.0, "longest a store operation waits for a lock, then 503"
    ),
    "keepalive_seconds": Field(_positive(float), 15.0, "SSE keepalive comment interval"),
    "send_timeout_seconds": Field(_positive(float), 30.0, "give up on a client not reading"),
    "flush_interval_ms": Field(
        _positive(float, zero=True), 16.0, "longest an SSE event waits for those after it (0: none)"
    ),
    "max_body_bytes": Field(_positive(int), 10 * 1024 * 1024, "largest request body"),
    "retained_run_bytes": Field(
        _positive(int), 128 * 1024 * 1024, "ended runs' events kept for re-attach (then 410)"
    ),
    "body_timeout_seconds": Field(_positive(float), 30.0, "longest a request body may take"),
    "shutdown_grace_seconds": Field(
        _positive(float), 10.0, "longest a shutdown waits for connections to finish"
    ),
    "header_timeout_seconds": Field(
        _positive(float), 10.0, "longest a request's headers may take (then the socket closes)"
    ),
    "limit_concurrency": Field(
        _optional(_positive(int)), None, "most connections at once, then 503 (default: by fd limit)"
    ),
    "api_key": Field(_optional_str, None, "require Authorization: Bearer <key>"),
    "cors_origins": Field(_strings, [], "allowed CORS origins (off when empty)"),
    "allowed_hosts": Field(
        _strings, [], "Host names served besides the bound host and loopback ('*': any)"
    ),
    "auth_hook": Field(_optional_str, None, "module:callable(request) -> principal | None"),
    "on_disconnect": Field(_choice("cancel", "continue"), "cancel", "what a dropped caller means"),
    "interrupt_channel": Field(
        _choice(*INTERRUPT_CHANNELS),
        "standard",
        "interrupts: the AG-UI 1.0 outcome, ag-ui-langgraph's on_interrupt (legacy), or both",
    ),
    "agents": Field(
        _agents, {}, "agents to serve: name = spec, or name = {spec, interrupt_channel}"
    ),
    "task_workers": Field(_positive(int), 4, "background task workers"),
    "task_lease_seconds": Field(_positive(float), 30.0, "a task claim's lease (crash recovery)"),
    "task_timeout_seconds": Field(
        _optional(_positive(float)), None, "longest run of one task (no limit)"
    ),
    "task_durability": Field(
        _choice("async", "sync", "exit"), "async", "task checkpoints: every step, or at exit"
    ),
}


@dataclass(frozen=True, slots=True)
class Settings:
    values: Mapping[str, Any]
    sources: Mapping[str, str]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def load_settings(
    *,
    cli: Mapping[str, Any] | None = None,
    config_file: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve every setting from its layers."""
    values = {key: field.default for key, field in FIELDS.items()}
    sources = dict.fromkeys(FIELDS, "default")
    path = Path(config_file) if config_file else find_config(cwd or Path.cwd())
    if path is not None:
        _apply(values, sources, _read_toml(path), f"file {path}")
    environ = os.environ if env is None else env
    from_env = {
        name[len(ENV_PREFIX) :].lower(): value
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX)
    }
    _apply(values, sources, from_env, "env", key_label=lambda k: f"{ENV_PREFIX}{k.upper()}")
    _apply(values, sources, {k: v for k, v in (cli or {}).items() if v is not None}, "cli")
    return Settings(values, sources)


def find_config(start: Path) -> Path | None:
    """The nearest graphwire.toml, walking up from ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _apply(
    values: dict[str, Any],
    sources: dict[str, str],
    layer: Mapping[str, Any],
    source: str,
    key_label: Callable[[str], str] = str,
) -> None:
    for key, raw in layer.items():
        field = FIELDS.get(key)
        if field is None:
            raise ConfigError(f"unknown setting {key_label(key)!r} (from {source})")
        try:
            values[key] = field.parse(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad value for {key_label(key)!r} (from {source}): {exc}") from exc
        sources[key] = source
