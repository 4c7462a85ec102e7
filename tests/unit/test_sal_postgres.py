"""The ``postgres`` module against a real PostgreSQL (``HORUS_TEST_POSTGRES_URL``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from horus.sal.common import SalError
from horus.sal.postgres import PostgresConnection, PostgresModule
from tests.postgres import postgres_url


@pytest.fixture(scope="module")
def pg_url() -> str:
    return postgres_url()


@pytest.fixture
def module() -> Iterator[PostgresModule]:
    module = PostgresModule(time.monotonic() + 30)
    yield module
    module._close()


@pytest.fixture
def table(pg_url: str) -> Iterator[str]:
    name = f"sal_items_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (id serial PRIMARY KEY, name text NOT NULL, price numeric, meta jsonb)")
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def db(module: PostgresModule, pg_url: str) -> PostgresConnection:
    return module.connect(pg_url)


def test_execute_returns_affected_rows_and_query_returns_maps(db: PostgresConnection, table: str) -> None:
    assert db.execute(f"INSERT INTO {table} (name, price) VALUES (%s, %s), (%s, %s)", ["a", 1.5, "b", 2]) == 2
    rows = db.query(f"SELECT name, price FROM {table} ORDER BY name")
    assert rows == [{"name": "a", "price": 1.5}, {"name": "b", "price": 2.0}]
    assert db.execute(f"UPDATE {table} SET price = price * 2") == 2
    assert db.execute(f"DELETE FROM {table} WHERE name = %(name)s", {"name": "a"}) == 1


def test_parameters_are_bound_never_interpolated(db: PostgresConnection, table: str) -> None:
    hostile = f"x'); DROP TABLE {table}; --"
    db.execute(f"INSERT INTO {table} (name) VALUES (%s)", [hostile])
    assert db.query(f"SELECT name FROM {table} WHERE name = %s", [hostile]) == [{"name": hostile}]


def test_values_become_script_values(db: PostgresConnection) -> None:
    row = db.query(
        "SELECT 1::bigint AS i, 2.5::float8 AS f, 3.25::numeric AS n, true AS b, NULL AS nothing, "
        "'2024-05-01 12:00:00+00'::timestamptz AS at, '{\"k\": [1, 2]}'::jsonb AS j, ARRAY[1, 2] AS arr, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, '\\x0102'::bytea AS raw"
    )[0]
    assert row == {
        "i": 1,
        "f": 2.5,
        "n": 3.25,
        "b": True,
        "nothing": None,
        "at": "2024-05-01T12:00:00+00:00",
        "j": {"k": [1, 2]},
        "arr": [1, 2],
        "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "raw": "AQI=",
    }


def test_sql_error_names_the_statement(db: PostgresConnection) -> None:
    with pytest.raises(SalError, match=r'relation "no_such_table_xyz" does not exist \(in .SELECT \* FROM no_such'):
        db.query("SELECT * FROM no_such_table_xyz")


def test_query_of_a_statement_without_rows_says_use_execute(db: PostgresConnection, table: str) -> None:
    with pytest.raises(SalError, match=r"returns no rows: use execute"):
        db.query(f"DELETE FROM {table}")


def test_bad_parameters_are_refused(db: PostgresConnection) -> None:
    with pytest.raises(SalError, match=r"parameters for 'SELECT %s' must be an array or a map"):
        db.query("SELECT %s", "x")  # type: ignore[arg-type]


def test_statement_past_the_job_deadline_is_cancelled_by_the_server(pg_url: str) -> None:
    module = PostgresModule(time.monotonic() + 1)
    try:
        db = module.connect(pg_url)
        began = time.monotonic()
        with pytest.raises(SalError, match=r"statement timeout"):
            db.execute("SELECT pg_sleep(30)")
        assert time.monotonic() - began < 10
    finally:
        module._close()


def test_connection_error_never_shows_the_password(module: PostgresModule, pg_url: str) -> None:
    parts = urlsplit(pg_url)
    url = urlunsplit(parts._replace(netloc=f"nobody:hunter2@{parts.hostname}:{parts.port or 5432}"))
    with pytest.raises(SalError, match=r"cannot connect to postgres postgresql://nobody:\*\*\*@") as caught:
        module.connect(url + "_no_such_db")
    assert "hunter2" not in str(caught.value)


def test_bad_url_is_refused(module: PostgresModule) -> None:
    with pytest.raises(SalError, match=r"postgres url must start with postgresql://"):
        module.connect("mysql://x")


def test_close_closes_every_connection(module: PostgresModule, pg_url: str) -> None:
    db = module.connect(pg_url)
    module._close()
    assert db._conn.closed
