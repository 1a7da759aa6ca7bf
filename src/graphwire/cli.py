"""The ``graphwire`` command: ``serve`` agents, ``chat`` with one, print the ``config``."""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn
from rich.console import Console

from graphwire.chat import TerminalChat
from graphwire.client import GraphwireClient
from graphwire.host import INTERRUPT_CHANNELS, ConfigError, Settings, SpecError, load_settings
from graphwire.server import (
    RELOAD_ENV,
    GraphwireServer,
    Served,
    ServeError,
    bounded_protocol,
    build,
    serving_in_thread,
)

EXIT_USAGE = 2
RELOAD_GRACE_SECONDS = 2
YOUNG_GC_THRESHOLD = 100_000
FD_RESERVE = 32
MIN_CONCURRENCY = 16
MAX_CONCURRENCY = 10_000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphwire", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve LangGraph graphs over AG-UI")
    serve.add_argument(
        "specs",
        nargs="*",
        metavar="[NAME=]SPEC",
        help="pkg.module:attr or path/file.py:attr (default: the demo agent)",
    )
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--reload", action="store_const", const=True)
    serve.add_argument("--log-level", dest="log_level")
    serve.add_argument("--data-dir", dest="data_dir", help="where the SQLite store lives")
    serve.add_argument(
        "--store",
        type=_store,
        metavar="sqlite|memory|postgresql://...",
        help="where checkpoints, tasks and run logs live",
    )
    serve.add_argument(
        "--interrupt-channel",
        dest="interrupt_channel",
        choices=INTERRUPT_CHANNELS,
        help="standard: the AG-UI 1.0 outcome; legacy: ag-ui-langgraph's on_interrupt event",
    )
    serve.add_argument("--config", help="a graphwire.toml to use instead of the nearest one")
    chat = commands.add_parser("chat", help="chat with an agent in the terminal")
    chat.add_argument(
        "target",
        nargs="?",
        metavar="URL|SPEC",
        help="a graphwire server's URL, or a spec to serve in this process (default: the demo)",
    )
    chat.add_argument("--agent", help="which of the server's agents (default: the first)")
    chat.add_argument("--thread", help="go on with this thread (default: a new one)")
    chat.add_argument("--api-key", dest="api_key", help="for a URL (default: $GRAPHWIRE_API_KEY)")
    chat.add_argument(
        "--store",
        choices=["memory", "sqlite"],
        default="memory",
        help="for a SPEC: where its threads and tasks live (default: memory)",
    )
    chat.add_argument("--config", help="for a SPEC: a graphwire.toml to use")
    config = commands.add_parser("config", help="print every setting and its source")
    config.add_argument("--config")
    return parser


def _store(text: str) -> dict[str, str]:
    """``--store``: a kind, or a PostgreSQL URL (store = postgres at that URL)."""
    if text.startswith(("postgresql://", "postgres://")):
        return {"store": "postgres", "store_url": text}
    if text in ("sqlite", "memory"):
        return {"store": text}
    raise argparse.ArgumentTypeError(f"{text!r}: sqlite, memory or a postgresql:// URL")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "config":
            return _print_config(args.config)
        if args.command == "chat":
            return _chat(args)
        return _serve(args)
    except (ConfigError, SpecError, ServeError) as exc:
        print(f"graphwire: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _print_config(config_file: str | None) -> int:
    settings = load_settings(config_file=config_file)
    values = settings.model_dump(mode="json", exclude_none=False)
    for key, field in Settings.model_fields.items():
        value = values[key]
        shown = _shown(key, value)
        print(f"{key} = {shown}  # {settings.sources[key]}: {field.description}")
    return 0


def _shown(key: str, value: Any) -> str:
    """A setting as ``config`` prints it: no secret (the key, a URL's password)."""
    if key == "api_key" and value:
        return "***"
    if key == "store_url" and value:
        value = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", value)
    return json.dumps(value)


def settle_heap() -> None:
    """Tune the cyclic garbage collector for serving, once the agents are loaded.

    What loading made (modules, schemas, the graphs) lives as long as the
    process: frozen, full collections skip it. A run churns through a few
    hundred short-lived containers, nearly all freed by reference counting; a
    young-generation threshold of 100,000 instead of 700 stops collecting them
    every run (LangGraph's own churn included). A young collection walks every
    live young object, the in-flight runs' included, so the rarer it runs the
    less it walks per run: at 64 concurrent streams the collector went from
    ~0.2 (700) to ~0.035 (20,000) to ~0.013 ms (100,000) of CPU per run (ADR 0007).
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, old)


def concurrency_limit(configured: int | None) -> int:
    """At most this many connections at once; more are answered 503 at once.
    By default the open-file limit less a reserve for the store, logs and the
    listening socket, so a flood of idle connections cannot take the last file
    descriptor and leave /healthz unanswered."""
    if configured is not None:
        return configured
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONCURRENCY
    return max(MIN_CONCURRENCY, min(MAX_CONCURRENCY, soft - FD_RESERVE))


def _serve(args: argparse.Namespace) -> int:
    flags = ("host", "port", "reload", "log_level", "data_dir", "interrupt_channel")
    cli = {k: getattr(args, k) for k in flags} | (args.store or {})
    settings = load_settings(cli=cli, config_file=args.config)
    served = build(settings, args.specs)
    served.preflight()
    base = f"http://{settings.host}:{settings.port}"
    for name in served.agents:
        print(f"graphwire: agent {name!r} at {base}/agents/{name}", flush=True)
    if settings.reload:
        os.environ[RELOAD_ENV] = json.dumps(
            {"cli": cli, "config": args.config, "specs": args.specs}
        )
        uvicorn.run(
            "graphwire.server:reload_app",
            factory=True,
            reload=True,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            # A restart must not wait for open streams; the app's shutdown then
            # cancels their runs.
            timeout_graceful_shutdown=RELOAD_GRACE_SECONDS,
            limit_concurrency=concurrency_limit(settings.limit_concurrency),
        )
        return 0
    settle_heap()
    config = _uvicorn_config(served, settings)
    GraphwireServer(config, served.app.state.registry, settings.shutdown_grace_seconds).run()
    return 0


def _uvicorn_config(served: Served, settings: Settings, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "limit_concurrency": concurrency_limit(settings.limit_concurrency),
        "http": bounded_protocol(settings.header_timeout_seconds, settings.send_timeout_seconds),
        # Half the grace for open connections, half for the app's close (ServerOptions).
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds / 2,
    }
    return uvicorn.Config(served.app, **(options | overrides))


def _chat(args: argparse.Namespace) -> int:
    """Chat with a server at a URL, or with a spec served in this process on a
    free loopback port (its threads in memory unless ``--store sqlite``)."""
    console = Console()
    target = args.target or ""
    if target.startswith(("http://", "https://")):
        api_key = args.api_key or os.environ.get("GRAPHWIRE_API_KEY")
        client = GraphwireClient(target, api_key=api_key)
        return TerminalChat(client, console, agent=args.agent, thread_id=args.thread).run()
    cli = {"host": "127.0.0.1", "store": args.store, "log_level": "warning"}
    settings = load_settings(cli=cli, config_file=args.config)
    served = build(settings, [target] if target else [])
    config = _uvicorn_config(served, settings, access_log=False)
    with serving_in_thread(config, served.app.state.registry) as url:
        client = GraphwireClient(url, api_key=settings.api_key)
        chat = TerminalChat(client, console, agent=args.agent, thread_id=args.thread)
        return chat.run()


if __name__ == "__main__":
    sys.exit(main())
