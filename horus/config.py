"""Settings: command-line flags win, then ``HORUS_*`` environment variables, then ``horus.toml``."""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from horus.errors import ConfigError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

#: Environment variables read for a setting, in order; PaaS names after Horus's own.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "redis_url": ("HORUS_REDIS_URL", "REDIS_URL"),
    "namespace": ("HORUS_NAMESPACE",),
    "key_file": ("HORUS_KEY_FILE",),
    "trusted_keys": ("HORUS_TRUSTED_KEYS",),
    "hero_bin": ("HORUS_HERO_BIN",),
    "port": ("HORUS_PORT", "PORT"),
    "supervisor_url": ("HORUS_SUPERVISOR_URL",),
    "token": ("HORUS_TOKEN",),
}


@cache
def toml_settings(path: str | None = None) -> dict[str, Any]:
    """The ``horus.toml`` named by ``HORUS_CONFIG``, else in the working directory, else nothing."""
    location = Path(path or os.environ.get("HORUS_CONFIG", "horus.toml"))
    if not location.exists():
        if path or "HORUS_CONFIG" in os.environ:
            raise ConfigError(f"config file {str(location)!r} does not exist")
        return {}
    try:
        return tomllib.loads(location.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {str(location)!r} is not valid TOML: {exc}") from None


def setting(name: str, flag: Any = None, default: Any = None, section: str | None = None) -> Any:
    """Resolve one setting: flag, then environment, then ``horus.toml`` (``[section]`` first)."""
    if flag not in (None, [], ()):
        return flag
    for env in ENV_NAMES.get(name, (f"HORUS_{name.upper()}",)):
        if os.environ.get(env):
            return os.environ[env]
    config = toml_settings()
    if section and name in config.get(section, {}):
        return config[section][name]
    return config.get(name, default)


def redis_url(flag: str | None = None) -> str:
    return str(setting("redis_url", flag, DEFAULT_REDIS_URL))


def split_list(value: Any) -> list[str]:
    """A list from a flag list, a TOML array or a comma-separated env value."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return [str(item) for item in value]
