"""``postgres``: ``postgres.connect(url)`` and a connection whose ``query``/``execute`` always bind parameters.

Statements run in autocommit mode: each one commits on its own (``BEGIN``/``COMMIT`` inside one
``execute`` call when several must be atomic). The server cuts off any statement that runs longer
than the job had left when it connected (``statement_timeout``). The URL's password never appears in errors.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import decimal
import math
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from horus.sal.common import ConnectingModule, SalError, redact_url, scrub, show_value, time_left

T = TypeVar("T")
CONNECT_TIMEOUT_S = 10


def to_script(value: Any) -> Any:
    """A PostgreSQL value as a Rhai value (Rhai has int, float, bool, string, array and map)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)  # numeric: Rhai has no decimal type
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [to_script(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_script(item) for key, item in value.items()}
    return str(value)


def _params(params: object, sql: str) -> list[Any] | dict[str, Any] | None:
    """Positional (``%s`` with an array) or named (``%(name)s`` with a map) parameters."""
    if params is None:
        return None
    if isinstance(params, list | dict):
        return params
    raise SalError(f"parameters for {sql!r} must be an array or a map, not {show_value(params)}")


class PostgresConnection:
    """One connection; scripts get it from ``postgres.connect(url)``."""

    def __init__(self, url: str, deadline: float | None) -> None:
        self._url = url
        self._shown = redact_url(url)
        try:
            self._conn = psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=max(1, math.ceil(time_left(deadline, CONNECT_TIMEOUT_S))),
                options=f"-c statement_timeout={max(1, int(time_left(deadline) * 1000))}",
            )
        except (psycopg.Error, ValueError) as exc:
            raise SalError(f"cannot connect to postgres {self._shown}: {scrub(str(exc).strip(), url)}") from None

    def _run(self, sql: object, params: object, step: Callable[[psycopg.Cursor[dict[str, Any]]], T]) -> T:
        if not isinstance(sql, str) or not sql.strip():
            raise SalError(f"sql must be a non-empty string, not {sql!r}")
        bound = _params(params, sql)
        try:
            with self._conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(sql, bound)
                return step(cursor)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SalError(f"postgres {self._shown}: {scrub(first, self._url)} (in {sql!r})") from None

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as maps from column name to value."""

        def rows(cursor: psycopg.Cursor[dict[str, Any]]) -> list[dict[str, Any]]:
            if cursor.description is None:
                raise SalError(f"{sql!r} returns no rows: use execute")
            return [{name: to_script(value) for name, value in row.items()} for row in cursor.fetchall()]

        return self._run(sql, params, rows)

    def execute(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> int:
        """Run a statement; returns the number of rows it affected (-1 when that has no meaning)."""
        return self._run(sql, params, lambda cursor: cursor.rowcount)

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self._conn.close()


class PostgresModule(ConnectingModule[PostgresConnection]):
    label = "postgres"
    schemes = ("postgresql://", "postgres://")

    def _open_connection(self, url: str) -> PostgresConnection:
        return PostgresConnection(url, self._deadline)
