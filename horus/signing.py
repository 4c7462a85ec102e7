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

    Job content holds strings, integers, a flat object of strings with ASCII keys, and the
    number options, whose bounds keep them to the fixed-point form (whole ones are integers by
    then). For these orjson's sorted output is JCS byte for byte (checked for every code point in
    tests/unit/test_signing.py against the standard library's encoder, which stays the fallback
    for what orjson refuses, such as integers past 64 bits; numbers in
    tests/unit/test_canonical_numbers.py against JSON.stringify).
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


#: The first line of a secret key file ``save_key`` writes: says what the file is, so a secret
#: key is never taken for a public one or the other way round.
SECRET_KEY_LABEL = "# horus ed25519 secret key: keep it private; share its public key (horus keys public)"
_PUBLIC_HINT = "--key needs the secret key file `horus keys generate --out FILE` wrote"


def save_key(path: str | os.PathLike[str], key: SigningKey) -> None:
    """Write the secret key as a label line and hex, readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{SECRET_KEY_LABEL}\n{secret_hex(key)}\n")
    os.chmod(path, 0o600)


def is_secret_key_text(text: str) -> bool:
    return SECRET_KEY_LABEL.split(":", 1)[0] in text


def load_key(path: str | os.PathLike[str]) -> SigningKey:
    """A secret key file: labelled (``save_key``), or bare hex readable by its owner only.

    A bare 64-hex file others may read is refused: that is what a public key saved from
    ``horus keys generate``'s output looks like, and signing with it would only get every job
    refused as untrusted later.
    """
    path = Path(path)
    try:
        text = path.read_text()
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read key file {str(path)!r}: {exc.strerror}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    body = [line for line in lines if not line.startswith("#")]
    if not is_secret_key_text(text):
        if any("public key" in line.lower() for line in lines if line.startswith("#")):
            raise ConfigError(f"{str(path)!r} is a public key file; {_PUBLIC_HINT}")
        if mode & 0o077 and len(body) == 1 and len(body[0]) == 64:
            raise ConfigError(
                f"{str(path)!r} holds bare hex that others may read: a public key (as `horus keys generate` "
                f"prints it), not a secret key file; {_PUBLIC_HINT}. If it is a secret key, `chmod 600` it"
            )
    return key_from_hex("".join(body))


def public_key_text(value: str) -> str:
    """A trusted public key given as hex or as a file holding it; a secret key is refused."""
    candidate = Path(value.strip())
    text: str = value
    if len(value.strip()) != 64 and candidate.is_file():
        try:
            text = candidate.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read public key file {value!r}: {exc.strerror}") from None
    if is_secret_key_text(text):
        what = repr(value.strip()) if text is not value else "the key given"
        raise ConfigError(
            f"{what} is a secret key file, not a public key: never hand a secret key to a "
            "worker; trust its public key instead (`horus keys public --key FILE` prints it)"
        )
    body = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return body[0] if len(body) == 1 else text.strip()


class Signer:
    """Signs jobs with one key; the raw secret and public hex are derived once, not per job."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.public_key = public_hex(key)
        _, self._secret = crypto_sign_seed_keypair(bytes(key))

    def signature(self, job: Job) -> Signature:
        return self.signature_of(job_bytes(job))

    def signature_of(self, message: bytes) -> Signature:
        """This key's signature of canonical bytes (a job's, a schedule's)."""
        sig = crypto_sign(message, self._secret)[:crypto_sign_BYTES].hex()
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
