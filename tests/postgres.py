"""A throwaway PostgreSQL for the tests: ``initdb`` on a temp dir (as the
postgres user when the tests run as root), a unix socket only, no fsync; a
fresh database per test. ``GRAPHWIRE_TEST_POSTGRES`` (a URL) uses a server
of yours instead. Without PostgreSQL binaries the tests that need it skip,
unless ``GRAPHWIRE_REQUIRE_POSTGRES`` is set (scripts/test sets it)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ADMIN_DB = "postgres"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found is not None:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def _as_postgres(command: list[str]) -> list[str]:
    """Root may not run PostgreSQL: the postgres user does."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for this test session; yields its admin URL."""
    given = os.environ.get("GRAPHWIRE_TEST_POSTGRES")
    if given:
        yield given
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        if os.environ.get("GRAPHWIRE_REQUIRE_POSTGRES"):
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) are not on this machine")
        pytest.skip("no PostgreSQL binaries")
    base = Path(tempfile.mkdtemp(prefix="graphwire-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    data = base / "data"
    subprocess.run(
        _as_postgres(
            [
                initdb,
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-k {base} -c listen_addresses='' -c fsync=off -c max_connections=300"
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield f"postgresql://postgres@/{ADMIN_DB}?host={base}"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server; yields its URL, drops it after."""
    name = f"gw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield admin_url.replace(f"/{ADMIN_DB}?", f"/{name}?", 1)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
