"""What a method handler gets besides its params."""

from __future__ import annotations

from dataclasses import dataclass

from horus.broker import Broker
from horus.supervisor.registry import Registry
from horus.supervisor.rpc import Role
from horus.trust import DEFAULT_MAX_AGE_S, DEFAULT_MAX_SKEW_S


@dataclass(frozen=True)
class Settings:
    max_age_s: int = DEFAULT_MAX_AGE_S
    max_skew_s: int = DEFAULT_MAX_SKEW_S
    #: Upper bound for job.run's wait, so a call cannot hold a server thread indefinitely.
    max_wait_s: float = 300.0


@dataclass(frozen=True)
class Context:
    broker: Broker
    registry: Registry
    settings: Settings
    role: Role | None
