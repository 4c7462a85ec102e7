"""Which public keys may sign jobs for which runners, and the check itself."""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from horus.errors import ConfigError, JobRejected
from horus.models import Job, Signature
from horus.signing import job_bytes

#: How old a job's ``created_at`` may be at admission, and how far in the future.
DEFAULT_MAX_AGE_S = 600
DEFAULT_MAX_SKEW_S = 60


def _verify_key(hex_key: str) -> VerifyKey:
    raw = bytes.fromhex(hex_key)
    if len(raw) != 32:
        raise ValueError("an ed25519 public key has 32 bytes (64 hex characters)")
    return VerifyKey(raw)


class TrustPolicy:
    """Trusted public keys, each allowed a set of runner-id patterns (``*`` for all)."""

    def __init__(self, keys: Mapping[str, Iterable[str]] | None = None, threshold: int = 1) -> None:
        if threshold < 1:
            raise ConfigError("signature threshold must be at least 1")
        self.threshold = threshold
        self._allowed: dict[str, tuple[str, ...]] = {}
        self._verify: dict[str, VerifyKey] = {}
        for key, runners in (keys or {}).items():
            self.add(key, runners)

    def add(self, public_key: str, runners: Iterable[str] = ("*",)) -> None:
        key = public_key.strip().lower()
        try:
            self._verify[key] = _verify_key(key)
        except ValueError as exc:
            raise ConfigError(f"trusted key {public_key!r} is not valid: {exc}") from None
        self._allowed[key] = tuple(runners) or ("*",)

    @classmethod
    def from_file(cls, path: Path) -> TrustPolicy:
        """Load ``{"threshold": n, "keys": {HEX: ["runner", "*"]}}`` from JSON."""
        try:
            data = json.loads(path.read_text())
            return cls(data.get("keys", {}), int(data.get("threshold", 1)))
        except (OSError, ValueError, AttributeError) as exc:
            raise ConfigError(f"trust policy {str(path)!r} unreadable: {exc}") from None

    @property
    def keys(self) -> dict[str, tuple[str, ...]]:
        return dict(self._allowed)

    def __bool__(self) -> bool:
        return bool(self._allowed)

    def allows(self, public_key: str, runner_id: str) -> bool:
        patterns = self._allowed.get(public_key, ())
        return any(p == "*" or fnmatch.fnmatchcase(runner_id, p) for p in patterns)

    def verify(self, job: Job) -> str:
        """Raise :class:`JobRejected` unless enough trusted keys signed this content.

        Returns the public key of the first valid signature (the job's signer).
        """
        return self.verify_message(job_bytes(job), job.signatures, job.runner_id)

    def verify_message(self, message: bytes, signatures: list[Signature], runner_id: str) -> str:
        """:meth:`verify` for content already in canonical bytes."""
        if not signatures:
            raise JobRejected("unsigned", "signatures", "job is unsigned: sign it with `horus sign` or --key")
        valid: list[str] = []
        first_error: JobRejected | None = None
        for index, signature in enumerate(signatures):
            try:
                valid.append(self._check_one(index, signature, runner_id, message))
            except JobRejected as exc:
                first_error = first_error or exc
        distinct = list(dict.fromkeys(valid))
        if len(distinct) >= self.threshold:
            return distinct[0]
        if first_error is not None:
            raise first_error
        raise JobRejected(
            "threshold",
            "signatures",
            f"{len(distinct)} valid signature(s) from distinct trusted keys; this runner needs {self.threshold}",
        )

    def _check_one(self, index: int, signature: Signature, runner_id: str, message: bytes) -> str:
        check_algorithm(index, signature)
        key = signature.public_key.strip().lower()
        verify_key = self._verify.get(key)
        field = f"signatures[{index}].public_key"
        if verify_key is None:
            raise JobRejected("untrusted_key", field, f"key {key[:16]}… is not trusted")
        if not self.allows(key, runner_id):
            raise JobRejected("key_not_allowed", field, f"key {key[:16]}… may not target runner {runner_id!r}")
        verify_with(verify_key, index, signature, message)
        return key


def check_algorithm(index: int, signature: Signature) -> None:
    if signature.algorithm != "ed25519":
        raise JobRejected(
            "bad_signature", f"signatures[{index}].algorithm", f"unsupported algorithm {signature.algorithm!r}"
        )


def verify_with(verify_key: VerifyKey, index: int, signature: Signature, message: bytes) -> None:
    """Raise ``bad_signature`` for a malformed signature, ``tampered`` for one that does not verify."""
    field = f"signatures[{index}].signature"
    try:
        raw = bytes.fromhex(signature.signature)
    except ValueError:
        raw = b""
    if len(raw) != 64:
        raise JobRejected("bad_signature", field, "malformed: expected 128 hex characters")
    try:
        verify_key.verify(message, raw)
    except BadSignatureError:
        raise JobRejected(
            "tampered", field, "signature does not match the job content (content changed after signing, or wrong key)"
        ) from None


def check_fresh(
    job: Job, now: float | None = None, max_age_s: int = DEFAULT_MAX_AGE_S, max_skew_s: int = DEFAULT_MAX_SKEW_S
) -> None:
    check_created_at(job.created_at, now, max_age_s, max_skew_s)


def check_created_at(
    created_at: int, now: float | None = None, max_age_s: int = DEFAULT_MAX_AGE_S, max_skew_s: int = DEFAULT_MAX_SKEW_S
) -> None:
    """Raise ``stale`` for a ``created_at`` more than ``max_age_s`` ago or ``max_skew_s`` ahead.

    The bound ahead matters as much as the one behind: a job dated years ahead would pass any
    age check for years, so a signed job once leaked could be replayed for that long.
    """
    now = time.time() if now is None else now
    age = now - created_at
    if age > max_age_s:
        raise JobRejected(
            "stale", "created_at", f"job was created {int(age)} s ago; the freshness window is {max_age_s} s"
        )
    if -age > max_skew_s:
        raise JobRejected(
            "stale", "created_at", f"job is dated {int(-age)} s in the future; at most {max_skew_s} s is allowed"
        )
