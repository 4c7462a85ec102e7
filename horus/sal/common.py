"""What every SAL module shares: its error type, secret-free URLs and deadline-bound timeouts."""

from __future__ import annotations

import re
import time
from typing import Generic, Protocol, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from horus.errors import HorusError
from horus.rhai.ops import to_debug


class SalError(HorusError):
    """A SAL function could not do what the script asked; the message names the culprit."""


def show_value(value: object) -> str:
    """A script's value as an error message shows it: plain values as Python writes them, anything
    else (a module, a connection, an array holding one) as Rhai's debug text, never a Python repr
    with a memory address."""
    if value is None or isinstance(value, str | int | float):
        return repr(value)
    return to_debug(value)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to show in errors and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def scrub(message: str, url: str) -> str:
    """``message`` with ``url``'s password removed wherever a library echoed it."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    message = message.replace(url, redact_url(url))
    if password:
        # Libraries may echo the password as written in the URL or percent-decoded.
        for form in {password, unquote(password)}:
            message = message.replace(form, "***")
    # libpq-style "password=..." fragments of a DSN
    return re.sub(r"(password\s*=\s*)[^\s'\",;)]+", r"\1***", message)


def time_left(deadline: float | None, wanted: float | None = None) -> float:
    """Seconds an operation may take: ``wanted`` (if given) but never past the job's deadline."""
    limits = [wanted] if wanted is not None else []
    if deadline is not None:
        limits.append(deadline - time.monotonic())
    if not limits:
        return 3600.0
    return max(min(limits), 0.001)


def seconds(value: object, what: str) -> float:
    """A script-given duration as seconds, refusing what is not a positive number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SalError(f"{what} must be a positive number of seconds, not {show_value(value)}")
    return float(value)


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


class ConnectingModule(Generic[C]):
    """A module whose ``connect(url)`` opens connections that are all closed when the job ends."""

    #: What the url error names, and the url prefixes the module takes.
    label = ""
    schemes: tuple[str, ...] = ()

    def __init__(self, deadline: float | None = None) -> None:
        self._deadline = deadline
        self._open: list[C] = []

    def _open_connection(self, url: str) -> C:
        raise NotImplementedError

    def connect(self, url: str) -> C:
        if not isinstance(url, str) or not url.startswith(self.schemes):
            shown = redact_url(url) if isinstance(url, str) else show_value(url)
            expected = ", ".join(self.schemes[:-1]) + f" or {self.schemes[-1]}"
            raise SalError(f"{self.label} url must start with {expected}, not {shown}")
        connection = self._open_connection(url)
        self._open.append(connection)
        return connection

    def _close(self) -> None:
        for connection in self._open:
            connection.close()
        self._open.clear()
