"""A worker's settings, as the master and its children share them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from horus.keys import DEFAULT_NAMESPACE


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
    options: dict[str, str] = Field(default_factory=dict)
