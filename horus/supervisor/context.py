"""What a method handler gets besides its params."""

from __future__ import annotations

from dataclasses import dataclass

from horus.broker import Broker
from horus.supervisor.registry import Registry
from horus.supervisor.rpc import Caller, Role
from horus.trust import DEFAULT_MAX_AGE_S, DEFAULT_MAX_SKEW_S


@dataclass(frozen=True)
class Settings:
    max_age_s: int = DEFAULT_MAX_AGE_S
    max_skew_s: int = DEFAULT_MAX_SKEW_S
    #: Upper bound for one request's waits (job.run, job.result, job.tail), so a call cannot hold a
    #: waiter slot and its Redis connection indefinitely.
    max_wait_s: float = 300.0


@dataclass(frozen=True)
class Context:
    broker: Broker
    registry: Registry
    settings: Settings
    #: None only for a method that needs no token.
    caller: Caller | None

    @property
    def role(self) -> Role | None:
        return None if self.caller is None else self.caller.role

    @property
    def identity(self) -> str:
        """Recorded as the owner of the jobs this caller submits."""
        return "" if self.caller is None else self.caller.identity

    def may_see(self, owner: str | None) -> bool:
        """Whether a job owned by ``owner`` (None: submitted straight into Redis) is visible:
        an admin sees every job, a user only the jobs it submitted."""
        if self.caller is None:
            return False
        return self.caller.role is Role.ADMIN or (owner is not None and owner == self.caller.identity)
