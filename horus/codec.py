"""JSON encoding: orjson for speed, the standard library for what orjson refuses (big ints)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Encode ``value``; raises TypeError when JSON cannot hold it."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            raise TypeError(str(exc)) from None


loads = json.loads
