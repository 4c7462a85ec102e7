"""A worker's settings, as the master and its children share them."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from horus.errors import ConfigError
from horus.keys import DEFAULT_NAMESPACE

#: The forms ``--rate-limit`` accepts, named in its error.
RATE_LIMIT_FORMS = "N/s, N/m or N/h (N a whole number, 1 or more: e.g. 10/s, 100/m, 5000/h)"
_PERIODS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000}
_RATE = re.compile(r"\s*(\d+)\s*/\s*([smh])\s*")


class RateLimit(BaseModel):
    """At most ``starts`` job starts in any window of ``window_ms`` (docs/workers.md)."""

    starts: int = Field(ge=1)
    window_ms: int = Field(ge=1)

    @classmethod
    def parse(cls, value: object) -> RateLimit:
        match = _RATE.fullmatch(value) if isinstance(value, str) else None
        if match is None or int(match.group(1)) < 1:
            raise ConfigError(
                f"rate_limit must be {RATE_LIMIT_FORMS}, not {value!r}: "
                "set --rate-limit, HORUS_RATE_LIMIT or [worker] rate_limit in horus.toml"
            )
        return cls(starts=int(match.group(1)), window_ms=_PERIODS_MS[match.group(2)])

    def __str__(self) -> str:
        units = {ms: name for name, ms in _PERIODS_MS.items()}
        unit = units.get(self.window_ms)
        return f"{self.starts}/{unit}" if unit else f"{self.starts} per {self.window_ms} ms"


class WorkerConfig(BaseModel):
    runner_type: str
    runner_id: str
    redis_url: str
    namespace: str = DEFAULT_NAMESPACE
    concurrency: int = Field(default=2, ge=1, le=512)
    trusted_keys: dict[str, list[str]] = Field(default_factory=dict)
    signature_threshold: int = Field(default=1, ge=1)
    max_jobs_per_child: int = Field(default=0, ge=0, description="0 means never recycle")
    max_memory_per_child_mb: int = Field(default=0, ge=0, description="0 means no ceiling")
    grace_s: float = Field(default=30.0, ge=0)
    heartbeat_interval_s: float = Field(default=2.0, gt=0)
    heartbeat_ttl_s: float = Field(default=10.0, gt=0)
    max_deliveries: int = Field(default=5, ge=1)
    max_job_age_s: int = Field(default=86_400, ge=1, description="oldest created_at run, in seconds")
    max_clock_skew_s: int = Field(default=60, ge=0, description="furthest ahead created_at run, in seconds")
    max_job_memory_mb: int = Field(default=0, ge=0, description="hard memory limit of a child; 0 means none")
    result_ttl_s: int = Field(default=86_400, ge=1)
    kill_grace_s: float = Field(default=2.0, ge=0)
    #: Past it a result's output and error keep their head and tail (docs/workers.md).
    max_output_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    #: None: jobs start as fast as the children take them (no permit is asked for).
    rate_limit: RateLimit | None = None
    #: Job events and counters kept by the scripts (docs/operations.md); the stream's cap.
    events: bool = True
    events_maxlen: int = Field(default=10_000, ge=1)
    options: dict[str, str] = Field(default_factory=dict)
    #: ``--metrics-port``: the master serves its own metrics there (None: not at all).
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    #: ``--wait-replicas``: replicas each stored result waits for (Redis WAIT; 0: none), and how long.
    wait_replicas: int = Field(default=0, ge=0)
    wait_timeout_ms: int = Field(default=1_000, ge=1)
