"""Layered configuration and its sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mypy.api
import pytest

from graphwire.host import AgentEntry, ConfigError, Settings, load_settings


def test_layers_override_in_order_and_remember_sources(tmp_path: Path) -> None:
    (tmp_path / "graphwire.toml").write_text(
        'port = 9000\nkeepalive_seconds = 5\nlog_level = "debug"\n[agents]\nx = "a.py:g"\n'
    )
    nested = tmp_path / "deep" / "er"
    nested.mkdir(parents=True)
    env = {"GRAPHWIRE_PORT": "9100", "GRAPHWIRE_CORS_ORIGINS": "http://a, http://b"}
    settings = load_settings(cli={"port": 9200, "host": None}, env=env, cwd=nested)
    assert settings.port == 9200 and settings.sources["port"] == "cli"
    assert settings.keepalive_seconds == 5.0
    assert settings.sources["keepalive_seconds"] == f"file {tmp_path / 'graphwire.toml'}"
    assert settings.cors_origins == ["http://a", "http://b"]
    assert settings.sources["cors_origins"] == "env"
    assert settings.host == "127.0.0.1" and settings.sources["host"] == "default"
    assert settings.agents == {"x": AgentEntry(spec="a.py:g")}


def test_interrupt_channel_globally_and_per_agent(tmp_path: Path) -> None:
    (tmp_path / "graphwire.toml").write_text(
        'interrupt_channel = "both"\n[agents]\nplain = "a.py:g"\n'
        'peer = { spec = "b.py:g", interrupt_channel = "legacy" }\n'
    )
    settings = load_settings(cwd=tmp_path, env={})
    assert settings.interrupt_channel == "both"
    assert settings.agents == {
        "plain": AgentEntry(spec="a.py:g"),
        "peer": AgentEntry(spec="b.py:g", interrupt_channel="legacy"),
    }
    from_env = load_settings(cwd=tmp_path, env={"GRAPHWIRE_INTERRUPT_CHANNEL": "legacy"})
    assert from_env.interrupt_channel == "legacy" and from_env.sources["interrupt_channel"] == "env"
    flag = load_settings(cwd=tmp_path, env={}, cli={"interrupt_channel": "standard"})
    assert flag.interrupt_channel == "standard"


@pytest.mark.parametrize(
    ("env", "toml", "says"),
    [
        ({"GRAPHWIRE_PROT": "1"}, "", "unknown setting 'GRAPHWIRE_PROT' (from env)"),
        ({"GRAPHWIRE_PORT": "abc"}, "", "bad value for 'GRAPHWIRE_PORT' (from env)"),
        ({}, "colour = 1\n", "unknown setting 'colour' (from file"),
        ({}, 'store = "redis"\n', "bad value for 'store' (from file"),
        ({}, "port = \n", "is not valid TOML"),
        ({"GRAPHWIRE_FLUSH_INTERVAL_MS": "-1"}, "", "greater than or equal to 0"),
        ({}, "keepalive_seconds = 0\n", "keepalive_seconds' (from file .*greater than 0"),
        ({"GRAPHWIRE_INTERRUPT_CHANNEL": "loud"}, "", "'standard', 'legacy' or 'both'"),
        ({}, '[agents]\np = { spec = "a.py:g", interrupt_channel = "x" }\n', "p.interrupt_channel"),
        ({}, '[agents]\np = { spec = "a.py:g", colour = 1 }\n', "p.colour: Extra inputs"),
        ({}, "[agents]\np = { interrupt_channel = 'legacy' }\n", "p.spec: Field required"),
        ({"GRAPHWIRE_TASK_DURABILITY": "later"}, "", "TASK_DURABILITY.*'exit'"),
        ({"GRAPHWIRE_SHUTDOWN_GRACE_SECONDS": "inf"}, "", "finite number"),
    ],
)
def test_errors_name_the_key_and_the_source(
    tmp_path: Path, env: dict[str, str], toml: str, says: str
) -> None:
    (tmp_path / "graphwire.toml").write_text(toml)
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env=env, cwd=tmp_path)


def test_a_zero_flush_interval_is_allowed(tmp_path: Path) -> None:
    settings = load_settings(env={"GRAPHWIRE_FLUSH_INTERVAL_MS": "0"}, cwd=tmp_path)
    assert settings.flush_interval_ms == 0.0 and settings.sources["flush_interval_ms"] == "env"


def test_every_setting_is_typed_and_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.annotation is not Any, name
        assert field.description, name


def test_settings_read_are_typed_for_mypy(tmp_path: Path) -> None:
    program = tmp_path / "use.py"
    program.write_text(
        "from graphwire.host import load_settings\n"
        "settings = load_settings()\n"
        "reveal_type(settings.port)\n"
        "reveal_type(settings.task_durability)\n"
        "reveal_type(settings.agents)\n"
    )
    # The project's cache (scripts/test's mypy filled it): graphwire is not
    # checked again, only this program.
    cache = Path(__file__).parents[2] / ".mypy_cache"
    out, _, _ = mypy.api.run(["--strict", "--cache-dir", str(cache), str(program)])
    assert 'Revealed type is "int"' in out, out
    assert "Literal['sync'] | Literal['async'] | Literal['exit']" in out, out
    assert "graphwire.host._config.AgentEntry" in out, out
    assert "Any" not in out, out


def test_a_postgres_store_and_its_url_go_together(tmp_path: Path) -> None:
    url = "postgresql://app@db/graphwire"
    env = {"GRAPHWIRE_STORE": "postgres", "GRAPHWIRE_STORE_URL": url}
    both = load_settings(env=env, cwd=tmp_path)
    assert (both.store, both.store_url) == ("postgres", url)
    with pytest.raises(ConfigError, match="needs a store_url"):
        load_settings(env={"GRAPHWIRE_STORE": "postgres"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"store_url is set \(from env\).*set store = 'postgres'"):
        load_settings(env={"GRAPHWIRE_STORE_URL": url}, cwd=tmp_path)
    # A store chosen in a higher layer wins (graphwire chat, serve --store sqlite).
    chosen = load_settings(cli={"store": "memory"}, env=env, cwd=tmp_path)
    assert chosen.store == "memory"
    with pytest.raises(ConfigError, match="GRAPHWIRE_STORE_URL"):
        load_settings(env={"GRAPHWIRE_STORE_URL": "mysql://db"}, cwd=tmp_path)
