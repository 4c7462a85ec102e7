"""Horus: signed jobs through a reliable Redis transport into prefork runners."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Loaded on first use, so `import horus.rhai` or a task module stays light.
_EXPORTS = {
    "Horus": "horus.app",
    "Task": "horus.app",
    "Handle": "horus.handle",
    "TaskContext": "horus.tasks",
    "current_job": "horus.tasks",
    "Job": "horus.models",
    "JobResult": "horus.models",
    "JobStatus": "horus.models",
    "JobProgress": "horus.models",
    "Signature": "horus.models",
    "RedisClient": "horus.client",
    "Client": "horus.sdk",
    "AsyncClient": "horus.sdk_async",
    "generate_key": "horus.signing",
    "load_key": "horus.signing",
    "sign_job": "horus.signing",
    "task": "horus.tasks",
    "Middleware": "horus.middleware",
    "HorusError": "horus.errors",
    "ConfigError": "horus.errors",
    "TransportError": "horus.errors",
    "ConnectionFailed": "horus.errors",
    "JobRejected": "horus.errors",
    "JobNotFound": "horus.errors",
    "JobActive": "horus.errors",
    "WaitTimeout": "horus.errors",
    "JobFailed": "horus.errors",
    "PluginError": "horus.errors",
    "NotDeadLettered": "horus.errors",
    "NotReplicated": "horus.errors",
    "SkipJob": "horus.errors",
    "ScheduleNotFound": "horus.errors",
    "ScheduleRejected": "horus.errors",
    "ScheduleExists": "horus.errors",
    "RhaiError": "horus.rhai.errors",
    "SalError": "horus.sal.common",
    "OsirisError": "horus.osiris.errors",
    "RpcError": "horus.supervisor.errors",
    "TmuxError": "horus.tmux.server",
    "Schedule": "horus.schedule",
}

if TYPE_CHECKING:
    from horus.app import Horus, Task
    from horus.client import RedisClient
    from horus.errors import (
        ConfigError,
        ConnectionFailed,
        HorusError,
        JobActive,
        JobFailed,
        JobNotFound,
        JobRejected,
        NotDeadLettered,
        NotReplicated,
        PluginError,
        ScheduleExists,
        ScheduleNotFound,
        ScheduleRejected,
        SkipJob,
        TransportError,
        WaitTimeout,
    )
    from horus.handle import Handle
    from horus.middleware import Middleware
    from horus.models import Job, JobProgress, JobResult, JobStatus, Signature
    from horus.osiris.errors import OsirisError
    from horus.rhai.errors import RhaiError
    from horus.sal.common import SalError
    from horus.schedule import Schedule
    from horus.sdk import Client
    from horus.sdk_async import AsyncClient
    from horus.signing import generate_key, load_key, sign_job
    from horus.supervisor.errors import RpcError
    from horus.tasks import TaskContext, current_job, task
    from horus.tmux.server import TmuxError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'horus' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [  # noqa: RUF022 - grouped like _EXPORTS
    "Horus",
    "Task",
    "Handle",
    "TaskContext",
    "current_job",
    "Job",
    "JobResult",
    "JobStatus",
    "JobProgress",
    "Signature",
    "RedisClient",
    "Client",
    "AsyncClient",
    "generate_key",
    "load_key",
    "sign_job",
    "task",
    "Middleware",
    "HorusError",
    "ConfigError",
    "TransportError",
    "ConnectionFailed",
    "JobRejected",
    "JobNotFound",
    "JobActive",
    "WaitTimeout",
    "JobFailed",
    "PluginError",
    "NotDeadLettered",
    "NotReplicated",
    "SkipJob",
    "ScheduleNotFound",
    "ScheduleRejected",
    "ScheduleExists",
    "RhaiError",
    "SalError",
    "OsirisError",
    "RpcError",
    "TmuxError",
    "Schedule",
    "__version__",
]
