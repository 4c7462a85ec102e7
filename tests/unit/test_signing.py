from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horus.errors import ConfigError
from horus.models import Job
from horus.signing import canonical_bytes, generate_key, key_from_hex, load_key, public_hex, save_key, sign_job


def reference(content: object) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_canonical_bytes_match_the_reference_for_every_code_point() -> None:
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(points), 4096):
        text = "".join(points[start : start + 4096])
        assert canonical_bytes({"payload": text}) == reference({"payload": text})


@given(
    env=st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True), st.text()),
    payload=st.text(min_size=1),
    created_at=st.integers(min_value=0, max_value=2**70),
)
def test_canonical_bytes_match_the_reference(env: dict[str, str], payload: str, created_at: int) -> None:
    content = {"env_vars": env, "payload": payload, "created_at": created_at, "timeout": 60, "id": "x"}
    assert canonical_bytes(content) == reference(content)


def test_sign_copies_unless_in_place() -> None:
    key = generate_key()
    job = Job(runner_id="r1", payload="x")
    signed = sign_job(job, key)
    assert job.signatures == [] and len(signed.signatures) == 1
    assert sign_job(job, key, in_place=True) is job and job.signatures == signed.signatures
    assert len(sign_job(signed, key).signatures) == 1  # re-signing replaces the key's own signature


def test_key_file_round_trip(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "k" / "client.key"
    save_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_hex(load_key(path)) == public_hex(key)


@pytest.mark.parametrize("text", ["zz", "abcd", ""])
def test_bad_secret_keys(text: str) -> None:
    with pytest.raises(ConfigError):
        key_from_hex(text)


def test_key_files_by_str_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.chdir(tmp_path)
    save_key("client.key", key)
    assert public_hex(load_key("client.key")) == public_hex(key)
    assert public_hex(load_key(str(tmp_path / "client.key"))) == public_hex(key)
    with pytest.raises(ConfigError, match=r"cannot read key file 'other\.key'"):
        load_key("other.key")


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read key file"):
        load_key(tmp_path / "nope")
