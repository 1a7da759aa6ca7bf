"""Fixtures every test package may use: a PostgreSQL database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres import fresh_database, postgres_server


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_admin: str) -> Iterator[str]:
    """The URL of an empty database of its own."""
    with fresh_database(postgres_admin) as url:
        yield url
