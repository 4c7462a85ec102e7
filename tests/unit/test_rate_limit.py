"""The forms ``--rate-limit`` accepts."""

from __future__ import annotations

import pytest

from horus.errors import ConfigError
from horus.worker.config import RateLimit


@pytest.mark.parametrize(
    ("text", "starts", "window_ms"), [("10/s", 10, 1_000), ("100/m", 100, 60_000), (" 1 / h ", 1, 3_600_000)]
)
def test_accepted_forms(text: str, starts: int, window_ms: int) -> None:
    limit = RateLimit.parse(text)
    assert (limit.starts, limit.window_ms) == (starts, window_ms)
    assert str(RateLimit.parse(str(limit))) == str(limit)


@pytest.mark.parametrize("value", ["", "10", "10/d", "0/s", "-1/s", "1.5/s", "ten/s", "10/S", 10])
def test_refused_values_name_the_accepted_forms(value: object) -> None:
    with pytest.raises(ConfigError, match=r"N/s, N/m or N/h .* not "):
        RateLimit.parse(value)
