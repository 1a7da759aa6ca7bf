"""Layered configuration: defaults < graphwire.toml < GRAPHWIRE_* env < CLI flags.

Every value remembers where it came from, so ``graphwire config`` can say so,
and every error names the key and its source.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from langgraph.types import Durability
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)

from graphwire.protocol import GraphwireError, InterruptChannel

CONFIG_FILE = "graphwire.toml"
ENV_PREFIX = "GRAPHWIRE_"


class ConfigError(GraphwireError):
    """A configuration value is unknown or invalid; names the key and the source."""


def _split(value: Any) -> Any:
    """A comma-separated string (as an environment variable gives it) is a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _unset(value: Any) -> Any:
    """An empty value (``GRAPHWIRE_API_KEY=``) means unset."""
    return None if value == "" else value


def _agent_entry(value: Any) -> Any:
    """``name = "spec"`` is ``name = {spec = "spec"}``."""
    return {"spec": value} if isinstance(value, str) else value


Strings = Annotated[list[str], BeforeValidator(_split)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class AgentEntry(BaseModel):
    """One agent of the ``agents`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str
    """``pkg.module:attr`` or ``path/file.py:attr``."""
    interrupt_channel: InterruptChannel | None = None
    """This agent's interrupt channel (default: the ``interrupt_channel`` setting)."""


class Settings(BaseModel):
    """Every setting, typed, with its default; the description is what
    ``graphwire config`` prints. ``sources`` says where each value came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="interface to bind")
    port: int = Field(8000, gt=0, lt=65536, description="port to bind")
    reload: bool = Field(False, description="restart on code changes (development)")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    data_dir: str = Field(".graphwire", description="where the SQLite file lives")
    store: Literal["sqlite", "memory", "postgres"] = Field(
        "sqlite",
        description="checkpoints, tasks and run logs: a SQLite file, memory (lost on exit), "
        "or PostgreSQL at store_url (many processes)",
    )
    store_url: Annotated[str | None, BeforeValidator(_unset)] = Field(
        None,
        pattern=r"^postgres(ql)?://",
        description="the PostgreSQL database of store = 'postgres' (postgresql://...)",
    )
    checkpoint_turns: int = Field(
        10, ge=0, description="earlier turns a thread can still edit (0: keep every checkpoint)"
    )
    kept_run_logs: int = Field(
        10, ge=0, description="earlier runs of a thread whose logs stay for re-attach (0: all)"
    )
    store_busy_timeout_seconds: Positive = Field(
        10.0, description="longest a store operation waits for a lock or a connection, then 503"
    )
    keepalive_seconds: Positive = Field(15.0, description="SSE keepalive comment interval")
    send_timeout_seconds: Positive = Field(30.0, description="give up on a client not reading")
    flush_interval_ms: NonNegative = Field(
        16.0, description="longest an SSE event waits for those after it (0: none)"
    )
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="largest request body")
    retained_run_bytes: int = Field(
        128 * 1024 * 1024, gt=0, description="ended runs' events kept for re-attach (then 410)"
    )
    body_timeout_seconds: Positive = Field(30.0, description="longest a request body may take")
    shutdown_grace_seconds: Positive = Field(
        10.0,
        description="longest a shutdown takes: half for open connections to finish,"
        " half for the store to take what runs and tasks left (then the pools close)",
    )
    header_timeout_seconds: Positive = Field(
        10.0, description="longest a request's headers may take (then the socket closes)"
    )
    limit_concurrency: Annotated[int | None, BeforeValidator(_unset)] = Field(
        None, gt=0, description="most connections at once, then 503 (default: by fd limit)"
    )
    api_key: Annotated[str | None, BeforeValidator(_unset)] = Field(
        None, description="require Authorization: Bearer <key>"
    )
    cors_origins: Strings = Field([], description="allowed CORS origins (off when empty)")
    allowed_hosts: Strings = Field(
        [], description="Host names served besides the bound host and loopback ('*': any)"
    )
    auth_hook: Annotated[str | None, BeforeValidator(_unset)] = Field(
        None, description="module:callable(request) -> principal | None"
    )
    on_disconnect: Literal["cancel", "continue"] = Field(
        "cancel", description="what a dropped caller means for its run"
    )
    interrupt_channel: InterruptChannel = Field(
        "standard",
        description="interrupts: the AG-UI 1.0 outcome, ag-ui-langgraph's on_interrupt "
        "(legacy), or both",
    )
    agents: dict[str, Annotated[AgentEntry, BeforeValidator(_agent_entry)]] = Field(
        {}, description="agents to serve: name = spec, or name = {spec, interrupt_channel}"
    )
    task_workers: int = Field(
        4, ge=0, description="background task workers (0: this process runs none, API only)"
    )
    task_lease_seconds: Positive = Field(30.0, description="a task claim's lease (crash recovery)")
    task_timeout_seconds: Annotated[float | None, BeforeValidator(_unset)] = Field(
        None, gt=0, description="longest run of one task (default: no limit)"
    )
    task_durability: Durability = Field(
        "async",
        description="task checkpoints: async (every step, written alongside), sync (every "
        "step, before the next), exit (only when the run ends)",
    )

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def sources(self) -> Mapping[str, str]:
        """Where each value came from: "default", "file PATH", "env" or "cli"."""
        return self._sources


INTERRUPT_CHANNELS: tuple[str, ...] = get_args(InterruptChannel)


def load_settings(
    *,
    cli: Mapping[str, Any] | None = None,
    config_file: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve every setting from its layers."""
    values: dict[str, Any] = {}
    sources = dict.fromkeys(Settings.model_fields, "default")
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
    settings = Settings.model_validate(values)
    settings._sources.update(sources)
    _check_store(settings)
    return settings


def _check_store(settings: Settings) -> None:
    """``store = 'postgres'`` needs a ``store_url``; a ``store_url`` needs a store
    chosen (it is unused by a store other than postgres)."""
    sources = settings.sources
    if settings.store == "postgres" and not settings.store_url:
        raise ConfigError(
            f"store 'postgres' (from {sources['store']}) needs a store_url (postgresql://...)"
        )
    if settings.store_url and sources["store"] == "default":
        # A store_url alone is a store = 'postgres' forgotten; a store chosen
        # in any layer (graphwire chat's memory, serve --store sqlite) wins.
        raise ConfigError(
            f"store_url is set (from {sources['store_url']}) but store is {settings.store!r} "
            f"(from {sources['store']}): set store = 'postgres'"
        )


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
    """Validate each of a layer's values on its own, so an error names its source."""
    for key, raw in layer.items():
        if key not in Settings.model_fields:
            raise ConfigError(f"unknown setting {key_label(key)!r} (from {source})")
        try:
            values[key] = getattr(Settings.model_validate({key: raw}), key)
        except ValidationError as exc:
            problems = "; ".join(_problem(error) for error in exc.errors())
            label = key_label(key)
            raise ConfigError(f"bad value for {label!r} (from {source}): {problems}") from exc
        sources[key] = source


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"][1:])  # after the setting's name
    return f"{where}: {error['msg']}" if where else str(error["msg"])
