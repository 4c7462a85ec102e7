"""ed25519 signing over the canonical JSON of a job's content (docs/protocol.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
from nacl.bindings import crypto_sign, crypto_sign_BYTES, crypto_sign_seed_keypair
from nacl.signing import SigningKey

from horus.errors import ConfigError
from horus.models import Job, Signature, assemble


def canonical_bytes(content: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) for Horus's value types: sorted keys, no spaces, UTF-8.

    Job content holds only strings, integers and a flat object of strings with ASCII keys.
    For these orjson's sorted output is JCS byte for byte (checked for every code point in
    tests/unit/test_signing.py against the standard library's encoder, which stays the
    fallback for what orjson refuses, such as integers past 64 bits).
    """
    try:
        return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def job_bytes(job: Job) -> bytes:
    return canonical_bytes(job.content())


def generate_key() -> SigningKey:
    return SigningKey.generate()


def public_hex(key: SigningKey) -> str:
    return bytes(key.verify_key).hex()


def secret_hex(key: SigningKey) -> str:
    return bytes(key).hex()


def key_from_hex(text: str) -> SigningKey:
    try:
        seed = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError("secret key is not hex: expected 64 hex characters (a 32-byte ed25519 seed)") from None
    if len(seed) != 32:
        raise ConfigError(f"secret key has {len(seed)} bytes; an ed25519 seed has 32 (64 hex characters)")
    return SigningKey(seed)


def save_key(path: str | os.PathLike[str], key: SigningKey) -> None:
    """Write the secret key as hex, readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret_hex(key) + "\n")
    os.chmod(path, 0o600)


def load_key(path: str | os.PathLike[str]) -> SigningKey:
    """The secret key in the hex file at ``path`` (a ``str`` or any path-like)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {str(path)!r}: {exc.strerror}") from None
    return key_from_hex(text)


class Signer:
    """Signs jobs with one key; the raw secret and public hex are derived once, not per job."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.public_key = public_hex(key)
        _, self._secret = crypto_sign_seed_keypair(bytes(key))

    def signature(self, job: Job) -> Signature:
        sig = crypto_sign(job_bytes(job), self._secret)[:crypto_sign_BYTES].hex()
        return assemble(Signature, {"public_key": self.public_key, "signature": sig, "algorithm": "ed25519"})

    def sign(self, job: Job, in_place: bool = False) -> Job:
        """``job`` with this key's signature (replacing an earlier one by the same key)."""
        signature = self.signature(job)
        signatures = [*(s for s in job.signatures if s.public_key != self.public_key), signature]
        if in_place:
            job.signatures = signatures
            return job
        return job.model_copy(update={"signatures": signatures})


def sign_job(job: Job, key: SigningKey, in_place: bool = False) -> Job:
    """``job`` with one more signature by ``key``: a copy, or ``job`` itself if ``in_place``."""
    return Signer(key).sign(job, in_place)
