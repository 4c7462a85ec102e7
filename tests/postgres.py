"""The PostgreSQL the tests use (HORUS_TEST_POSTGRES_URL): its URL once it answers, else a skip
(a failure under CI, where .ci/run starts one)."""

from __future__ import annotations

import os

import pytest

DEFAULT_TEST_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    import psycopg

    url = os.environ.get("HORUS_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL at {url} (set HORUS_TEST_POSTGRES_URL)")
    return url
