"""ed25519 signing over the canonical JSON of a job's content (docs/protocol.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from horus.errors import ConfigError
from horus.models import Job, Signature


def canonical_bytes(content: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) for Horus's value types: sorted keys, no spaces, UTF-8.

    Job content holds only strings, integers and a flat object of strings with ASCII
    keys, so Python's sorted ``json.dumps`` matches JCS byte for byte.
    """
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


def save_key(path: Path, key: SigningKey) -> None:
    """Write the secret key as hex, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret_hex(key) + "\n")
    os.chmod(path, 0o600)


def load_key(path: Path) -> SigningKey:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {str(path)!r}: {exc.strerror}") from None
    return key_from_hex(text)


def sign_job(job: Job, key: SigningKey) -> Job:
    """Return a copy of ``job`` with one more signature by ``key``."""
    sig = key.sign(job_bytes(job)).signature.hex()
    signature = Signature(public_key=public_hex(key), signature=sig)
    others = [s for s in job.signatures if s.public_key != signature.public_key]
    return job.model_copy(update={"signatures": [*others, signature]})
