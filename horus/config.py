"""Settings: command-line flags win, then ``HORUS_*`` environment variables, then ``horus.toml``."""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from horus.errors import ConfigError
from horus.redis_url import redact

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

#: Every setting ``horus.toml`` may hold, with the ``[sections]`` that may hold it too (a setting
#: read for a section falls back to the top level). A key not listed here is refused, so a typo
#: never silently leaves the default in force: a new setting is added here before it is read.
KNOWN_SETTINGS: dict[str, tuple[str, ...]] = {
    "redis_url": (),
    "namespace": (),
    "key_file": (),
    "token": (),
    "supervisor_url": (),
    "coordinator_url": (),
    "coordinator_port": (),
    "coordinator_key_file": (),
    "hero_bin": (),
    "events": ("worker",),
    "events_maxlen": ("worker",),
    "trusted_keys": ("worker",),
    "app": ("worker",),
    "max_output": ("worker",),
    "max_job_age": ("worker",),
    "max_clock_skew": ("worker",),
    "max_job_memory": ("worker",),
    "middleware": ("worker",),
    "rate_limit": ("worker",),
    "port": ("supervisor", "coordinator"),
    "metrics_token_required": ("supervisor",),
    "metrics_port": ("worker",),
    "metrics_host": ("worker",),
    "wait_replicas": ("worker",),
    "wait_timeout_ms": ("worker",),
}
SECTIONS = sorted({section for sections in KNOWN_SETTINGS.values() for section in sections})


def _known_in(section: str | None) -> list[str]:
    if section is None:
        return sorted(KNOWN_SETTINGS)
    return sorted(name for name, sections in KNOWN_SETTINGS.items() if section in sections)


def check_known(config: dict[str, Any], where: str) -> None:
    """Refuse a key no setting reads, naming it, the file and the keys that exist there."""
    for name, value in config.items():
        if name in SECTIONS and isinstance(value, dict):
            for inner in value:
                if inner not in _known_in(name):
                    known = ", ".join(_known_in(name))
                    raise ConfigError(f"unknown setting {inner!r} in [{name}] of {where} (known there: {known})")
        elif name not in KNOWN_SETTINGS:
            known = ", ".join(_known_in(None) + [f"[{section}]" for section in SECTIONS])
            raise ConfigError(f"unknown setting {name!r} in {where} (known: {known})")


@cache
def toml_settings(path: str | None = None) -> dict[str, Any]:
    """The ``horus.toml`` named by ``HORUS_CONFIG``, else in the working directory, else nothing."""
    location = Path(path or os.environ.get("HORUS_CONFIG", "horus.toml"))
    if not location.exists():
        if path or "HORUS_CONFIG" in os.environ:
            raise ConfigError(f"config file {str(location)!r} does not exist")
        return {}
    try:
        config = tomllib.loads(location.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {str(location)!r} is not valid TOML: {exc}") from None
    check_known(config, str(location))
    return config


def setting(name: str, flag: Any = None, default: Any = None, section: str | None = None) -> Any:
    """Resolve one setting: flag, then environment, then ``horus.toml`` (``[section]`` first)."""
    if name not in KNOWN_SETTINGS or (section is not None and section not in KNOWN_SETTINGS[name]):
        raise AssertionError(f"setting {name!r} (section {section}) is not in config.KNOWN_SETTINGS")
    if flag not in (None, [], ()):
        return flag
    for env in ENV_NAMES.get(name, (f"HORUS_{name.upper()}",)):
        if os.environ.get(env):
            return os.environ[env]
    config = toml_settings()
    if section and name in config.get(section, {}):
        return config[section][name]
    return config.get(name, default)


def flag_setting(name: str, flag: bool, section: str | None = None) -> bool:
    """A yes/no setting: the flag when given, else ``HORUS_<NAME>`` (1, true, yes, on) or the
    ``horus.toml`` boolean."""
    value = setting(name, True if flag else None, False, section=section)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no), not {value!r}")


#: Entries each runner's events stream keeps (about: ``XADD MAXLEN ~``), docs/operations.md.
DEFAULT_EVENTS_MAXLEN = 10_000
_ON = {"on", "true", "1", "yes"}
_OFF = {"off", "false", "0", "no"}


def events_enabled(flag: bool | None = None, section: str | None = None) -> bool:
    """Whether the scripts record job events and counters: ``--events/--no-events``, then
    ``HORUS_EVENTS`` (``on``/``off``), then ``events`` in horus.toml; on by default."""
    value = setting("events", flag, True, section=section)
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _ON | _OFF:
        return word in _ON
    raise ConfigError(f"events must be on or off, not {value!r}: set --events/--no-events, HORUS_EVENTS or events")


def events_maxlen(flag: int | None = None, section: str | None = None) -> int:
    """About how many events each runner's stream keeps: ``HORUS_EVENTS_MAXLEN`` or
    ``events_maxlen`` in horus.toml (10 000)."""
    value = setting("events_maxlen", flag, DEFAULT_EVENTS_MAXLEN, section=section)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or isinstance(value, bool | float):
        raise ConfigError(
            f"events_maxlen must be a whole number of entries (1 or more), not {value!r}: "
            "set HORUS_EVENTS_MAXLEN or events_maxlen in horus.toml"
        )
    return number


#: How long a write waits for its replicas by default (``HORUS_WAIT_TIMEOUT_MS``).
DEFAULT_WAIT_TIMEOUT_MS = 1_000


def _whole(name: str, value: Any, minimum: int, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum or isinstance(value, bool | float):
        raise ConfigError(
            f"{name} must be a whole number {what} ({minimum} or more), not {value!r}: "
            f"set HORUS_{name.upper()} (a worker: --{name.replace('_', '-')}) or {name} in horus.toml"
        )
    return number


def wait_replicas(flag: int | None = None, section: str | None = None) -> int:
    """How many replicas must confirm each queued job and stored result before it counts as
    done (Redis ``WAIT``): ``HORUS_WAIT_REPLICAS`` or ``wait_replicas`` in horus.toml; 0, the
    default, waits for none (docs/scaling.md, "Failover")."""
    return _whole("wait_replicas", setting("wait_replicas", flag, 0, section=section), 0, "of replicas")


def wait_timeout_ms(flag: int | None = None, section: str | None = None) -> int:
    """How long such a write waits for its replicas: ``HORUS_WAIT_TIMEOUT_MS`` (1000). At least
    1: Redis reads ``WAIT n 0`` as waiting forever."""
    value = setting("wait_timeout_ms", flag, DEFAULT_WAIT_TIMEOUT_MS, section=section)
    return _whole("wait_timeout_ms", value, 1, "of milliseconds")


def redis_url(flag: str | None = None) -> str:
    return str(setting("redis_url", flag, DEFAULT_REDIS_URL))


def redacted(url: str) -> str:
    """A Redis URL fit for a log line: its password (and a sentinel's) replaced by ``***``."""
    return redact(url)


def split_list(value: Any) -> list[str]:
    """A list from a flag list, a TOML array or a comma-separated env value."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return [str(item) for item in value]
