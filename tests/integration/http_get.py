"""A plain HTTP GET for the dashboards' tests: status, headers and body, whatever the status."""

from __future__ import annotations

import urllib.error
import urllib.request
from email.message import Message


def get(url: str, token: str | None = None, timeout_s: float = 60) -> tuple[int, Message, bytes]:
    """Status, headers (looked up case-insensitively) and body; a Bearer token when given."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
