from __future__ import annotations

from pathlib import Path

import pytest

from horus import config


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for names in config.ENV_NAMES.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HORUS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    config.toml_settings.cache_clear()


def test_flag_then_env_then_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert config.redis_url() == config.DEFAULT_REDIS_URL
    (tmp_path / "horus.toml").write_text('redis_url = "redis://toml:1/0"\n')
    config.toml_settings.cache_clear()
    assert config.redis_url() == "redis://toml:1/0"
    monkeypatch.setenv("REDIS_URL", "redis://paas:2/0")
    assert config.redis_url() == "redis://paas:2/0"
    monkeypatch.setenv("HORUS_REDIS_URL", "redis://horus:3/0")
    assert config.redis_url() == "redis://horus:3/0"
    assert config.redis_url("redis://flag:4/0") == "redis://flag:4/0"


def test_toml_section(tmp_path: Path) -> None:
    (tmp_path / "horus.toml").write_text('[worker]\ntrusted_keys = ["aa", "bb"]\n')
    assert config.split_list(config.setting("trusted_keys", None, section="worker")) == ["aa", "bb"]


def test_split_list_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HORUS_TRUSTED_KEYS", "aa, bb,")
    assert config.split_list(config.setting("trusted_keys")) == ["aa", "bb"]


def test_missing_explicit_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HORUS_CONFIG", "/nonexistent/horus.toml")
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.redis_url()


def test_unknown_settings_are_refused(tmp_path: Path) -> None:
    (tmp_path / "horus.toml").write_text('redis_ulr = "redis://typo:1/0"\n')
    with pytest.raises(config.ConfigError, match=r"unknown setting 'redis_ulr' in horus.toml \(known: .*redis_url"):
        config.redis_url()
    (tmp_path / "horus.toml").write_text('[worker]\ntrusted_key = ["aa"]\n')
    config.toml_settings.cache_clear()
    with pytest.raises(config.ConfigError, match=r"'trusted_key' in \[worker\] of horus.toml .*trusted_keys"):
        config.setting("trusted_keys", None, section="worker")


def test_every_known_setting_and_section_is_accepted(tmp_path: Path) -> None:
    lines = [f'{name} = "x"' for name in config.KNOWN_SETTINGS]
    for section in config.SECTIONS:
        lines += [
            f"[{section}]",
            *(f'{name} = "x"' for name, where in config.KNOWN_SETTINGS.items() if section in where),
        ]
    (tmp_path / "horus.toml").write_text("\n".join(lines) + "\n")
    assert config.setting("app", None, section="worker") == "x"


def test_redacted_hides_only_the_password() -> None:
    assert config.redacted("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert config.redacted("rediss://user:s3cret@host/1") == "rediss://user:***@host/1"
    assert config.redacted("redis://host:6379/0") == "redis://host:6379/0"
