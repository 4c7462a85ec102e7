"""Which SAL modules a runner offers, and building them for one job.

A module the runner does not enable is still registered, as a stand-in whose every function
fails naming the module and what is enabled, so a script gets a clear error instead of
"Variable not found".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from horus.sal.common import SalError
from horus.sal.env import EnvModule
from horus.sal.net import NetModule
from horus.sal.os_module import OsModule
from horus.sal.paths import PathGuard
from horus.sal.postgres import PostgresConnection, PostgresModule
from horus.sal.process import ProcessModule
from horus.sal.redis_module import RedisConnection, RedisModule
from horus.sal.text import TextModule
from horus.worker.context import JobContext

#: Built modules, in the order the docs list them.
MODULES = ("os", "process", "net", "text", "redis", "postgres", "env")
#: Named in the design, not built yet.
PLANNED = ("k8s", "hetzner")
#: Classes of objects the modules hand to scripts (whose methods scripts call).
HOST_TYPES: tuple[type, ...] = (RedisConnection, PostgresConnection)


def parse_modules(spec: str | None) -> tuple[str, ...]:
    """``"os, process"`` → ``("os", "process")``; nothing given means every built module."""
    if spec is None or not spec.strip():
        return MODULES
    names = [name.strip() for name in spec.split(",") if name.strip()]
    for name in names:
        if name in PLANNED:
            raise SalError(f"SAL module {name!r} is planned but not built yet (built: {', '.join(MODULES)})")
        if name not in MODULES:
            raise SalError(f"unknown SAL module {name!r} (built: {', '.join(MODULES)})")
    return tuple(dict.fromkeys(names))


class Disabled:
    """Stands in for a module this runner does not offer."""

    def __init__(self, name: str, enabled: tuple[str, ...]) -> None:
        self._name = name
        self._enabled = enabled

    def __getattr__(self, attr: str) -> Callable[..., NoReturn]:
        if attr.startswith("_"):
            raise AttributeError(attr)
        message = (
            f"SAL module {self._name!r} is not enabled on this runner "
            f"(enabled: {', '.join(self._enabled) or 'none'}; see --modules)"
        )

        def refuse(*_args: Any) -> NoReturn:
            raise SalError(message)

        return refuse


def build(enabled: tuple[str, ...], ctx: JobContext, guard: PathGuard) -> dict[str, Any]:
    """The modules one job's script sees, by name."""
    job = ctx.job
    variables = {**job.env_vars, "HORUS_JOB_ID": job.id, "HORUS_RUNNER_ID": ctx.runner_id}
    factories: dict[str, Callable[[], Any]] = {
        "os": lambda: OsModule(guard),
        "process": lambda: ProcessModule(ctx, guard),
        "net": lambda: NetModule(ctx.deadline),
        "text": TextModule,
        "redis": lambda: RedisModule(ctx.deadline),
        "postgres": lambda: PostgresModule(ctx.deadline),
        "env": lambda: EnvModule(variables),
    }
    return {name: factories[name]() if name in enabled else Disabled(name, enabled) for name in MODULES}
