"""Numbers in the signed bytes are written as RFC 8785 (ECMAScript) writes them, checked
against Node's JSON.stringify where Node is installed."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from horus.admission import parse_job
from horus.models import MAX_BACKOFF_S, MAX_NOT_BEFORE, MIN_BACKOFF_S
from horus.signing import canonical_bytes


def _samples() -> list[float]:
    rand = random.Random(8785)
    values = [MIN_BACKOFF_S, 0.5, 1.5, 2.0, 60.0, 0.1 + 0.2, float(MAX_BACKOFF_S), MAX_NOT_BEFORE - 0.5]
    values += [round(rand.uniform(MIN_BACKOFF_S, MAX_BACKOFF_S), rand.randint(0, 6)) for _ in range(300)]
    values += [rand.uniform(1e9, MAX_NOT_BEFORE) for _ in range(300)]
    values += [rand.uniform(MIN_BACKOFF_S, 1) for _ in range(300)]
    return values


def _ours(value: float) -> str:
    """The number as it appears in a job's signed bytes: as ``retry_backoff_s`` within its
    bounds (a wait below a second), else as ``not_before``."""
    field = "retry_backoff_s" if value <= MAX_BACKOFF_S else "not_before"
    job = parse_job({"runner_id": "r", "payload": "x", "created_at": 1, field: value})
    text = canonical_bytes(job.content()).decode()
    return text.split(f'"{field}":', 1)[1].split(",", 1)[0].rstrip("}")


def test_whole_numbers_are_written_as_integers() -> None:
    assert _ours(60.0) == "60"
    assert _ours(1763703600.0) == "1763703600"
    assert _ours(1763703600.25) == "1763703600.25"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (JSON.stringify is the ECMAScript reference)")
def test_numbers_match_ecmascript() -> None:
    values = _samples()
    script = (
        "const xs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(xs.map(x => JSON.stringify(x)).join('\\n'))"
    )
    reference = subprocess.run(
        ["node", "-e", script], input=json.dumps(values), capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    ours = [_ours(value) for value in values]
    mismatches = [(v, o, r) for v, o, r in zip(values, ours, reference, strict=True) if o != r]
    assert not mismatches, mismatches[:5]
