"""The no-op task RQ workers import (RQ finds functions by dotted path)."""

from __future__ import annotations


def noop() -> None:
    return None
