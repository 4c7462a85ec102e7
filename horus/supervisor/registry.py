"""The supervisor's state in Redis: registered runners, trusted keys, tokens, the job index.

Nothing is cached in the process, so any number of supervisors can serve one Redis and a
change made through one is seen by all at once.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson
from pydantic import BaseModel

from horus.broker import Broker
from horus.supervisor.rpc import Role
from horus.trust import TrustPolicy


class RunnerInfo(BaseModel):
    runner_id: str
    runner_type: str
    registered_at: float


class KeyInfo(BaseModel):
    public_key: str
    runners: list[str]
    added_at: float


class TokenInfo(BaseModel):
    name: str
    role: Role


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class Registry:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.keys = broker.keys
        self._cached_policy: tuple[tuple[str, ...], TrustPolicy] | None = None

    def _put(self, key: str, name: str, record: BaseModel) -> None:
        self.broker.call("HSET", key, name, record.model_dump_json())

    def _all(self, key: str) -> dict[str, Any]:
        return {name: orjson.loads(value) for name, value in _pairs(self.broker.call("HGETALL", key)).items()}

    def _get(self, key: str, name: str) -> Any:
        value = self.broker.call("HGET", key, name)
        return None if value is None else orjson.loads(value)

    def _delete(self, key: str, name: str) -> bool:
        return int(self.broker.call("HDEL", key, name)) == 1

    # -- runners ------------------------------------------------------------------
    def register_runner(self, runner_id: str, runner_type: str) -> RunnerInfo | None:
        """Register (idempotent for the same type); None when registered with another type."""
        record = RunnerInfo(runner_id=runner_id, runner_type=runner_type, registered_at=time.time())
        # HSETNX so two supervisors registering at once agree on one record.
        if int(self.broker.call("HSETNX", self.keys.supervisor_runners(), runner_id, record.model_dump_json())):
            return record
        existing = self.runner(runner_id)
        if existing is None:  # removed in between: try once more
            return self.register_runner(runner_id, runner_type)
        return existing if existing.runner_type == runner_type else None

    def runner(self, runner_id: str) -> RunnerInfo | None:
        data = self._get(self.keys.supervisor_runners(), runner_id)
        return None if data is None else RunnerInfo.model_validate(data)

    def runners(self) -> list[RunnerInfo]:
        found = [RunnerInfo.model_validate(v) for v in self._all(self.keys.supervisor_runners()).values()]
        return sorted(found, key=lambda runner: runner.runner_id)

    def remove_runner(self, runner_id: str) -> bool:
        return self._delete(self.keys.supervisor_runners(), runner_id)

    # -- trusted keys -------------------------------------------------------------
    def add_key(self, public_key: str, runners: list[str]) -> KeyInfo:
        record = KeyInfo(public_key=public_key, runners=runners, added_at=time.time())
        self._put(self.keys.supervisor_keys(), public_key, record)
        return record

    def remove_key(self, public_key: str) -> bool:
        return self._delete(self.keys.supervisor_keys(), public_key)

    def trusted_keys(self) -> list[KeyInfo]:
        found = [KeyInfo.model_validate(v) for v in self._all(self.keys.supervisor_keys()).values()]
        return sorted(found, key=lambda info: info.added_at)

    def policy(self) -> TrustPolicy:
        """Read fresh for every admission, so a key removed through any supervisor stops at once."""
        return self._policy(self.broker.call("HGETALL", self.keys.supervisor_keys()))

    def admission_state(self, runner_id: str) -> tuple[TrustPolicy, RunnerInfo | None]:
        """The trusted keys and the runner's record, read fresh in one round trip."""
        flat, runner = self.broker.conn.pipeline(
            [("HGETALL", self.keys.supervisor_keys()), ("HGET", self.keys.supervisor_runners(), runner_id)]
        )
        for reply in (flat, runner):
            if isinstance(reply, Exception):
                raise reply
        return self._policy(flat), None if runner is None else RunnerInfo.model_validate_json(runner)

    def _policy(self, flat: list[str]) -> TrustPolicy:
        # Parsing the keys (a verify key each) costs more than reading them: reuse the policy
        # while the registry's content is unchanged. The content is still read every time.
        snapshot = tuple(flat)
        cached = self._cached_policy
        if cached is not None and cached[0] == snapshot:
            return cached[1]
        records = (KeyInfo.model_validate_json(value) for value in flat[1::2])
        policy = TrustPolicy({info.public_key: info.runners for info in records})
        self._cached_policy = (snapshot, policy)
        return policy

    # -- tokens -------------------------------------------------------------------
    def add_token(self, token: str, name: str, role: Role) -> TokenInfo:
        record = TokenInfo(name=name, role=role)
        self._put(self.keys.supervisor_tokens(), token_hash(token), record)
        return record

    def token(self, token: str) -> TokenInfo | None:
        data = self._get(self.keys.supervisor_tokens(), token_hash(token))
        return None if data is None else TokenInfo.model_validate(data)

    def tokens(self) -> dict[str, TokenInfo]:
        """Token hash -> record."""
        return {h: TokenInfo.model_validate(v) for h, v in self._all(self.keys.supervisor_tokens()).items()}

    def revoke_tokens(self, name: str) -> int:
        hashes = [h for h, info in self.tokens().items() if info.name == name]
        return int(self.broker.call("HDEL", self.keys.supervisor_tokens(), *hashes)) if hashes else 0

    # -- job index ----------------------------------------------------------------
    def index_job(self, runner_id: str, job_id: str, created_at: int) -> None:
        self.broker.call(*self.index_command(runner_id, job_id, created_at))

    def index_command(self, runner_id: str, job_id: str, created_at: int) -> tuple[str | int, ...]:
        """ZADD NX, so it reports whether it added the entry (a caller undoes only its own)."""
        # Member "runner/job": ids never contain '/', and a runner filter then needs no lookup.
        return ("ZADD", self.keys.supervisor_jobs(), "NX", created_at, f"{runner_id}/{job_id}")

    def job_page(self, start: int, count: int) -> list[tuple[str, str, int]]:
        """(runner id, job id, created_at), newest first, from position ``start``."""
        flat = self.broker.call("ZREVRANGE", self.keys.supervisor_jobs(), start, start + count - 1, "WITHSCORES")
        page = []
        for member, score in zip(flat[::2], flat[1::2], strict=True):
            runner_id, _, job_id = str(member).partition("/")
            page.append((runner_id, job_id, int(float(score))))
        return page

    def unindex_jobs(self, members: list[tuple[str, str]]) -> None:
        if members:
            self.broker.call("ZREM", self.keys.supervisor_jobs(), *[f"{r}/{j}" for r, j in members])
