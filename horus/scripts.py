"""Lua scripts kept as ``horus/lua/*.lua``, read once and called by name (EVALSHA)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from redis import Redis
from redis.commands.core import Script

NAMES = ("enqueue", "start", "finish", "cancel", "reap", "requeued", "heartbeat")


@cache
def source(name: str) -> str:
    return resources.files("horus").joinpath("lua", f"{name}.lua").read_text()


class Scripts:
    """The scripts registered on one client; each call is one EVALSHA round trip."""

    def __init__(self, redis: Redis) -> None:
        self._scripts: dict[str, Script] = {name: redis.register_script(source(name)) for name in NAMES}

    def __call__(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        return self._scripts[name](keys=keys, args=args, client=client)
