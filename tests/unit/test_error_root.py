"""Every error class of the horus package descends from horus.errors.HorusError, so
``except HorusError`` catches whatever Horus raises; a new error class cannot slip out."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import horus
import horus.errors
from horus.errors import HorusError

# BaseException subclasses that are not Exceptions are control flow (a stop, a job's
# deadline), deliberately outside `except Exception`; they are not errors.


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(horus.__path__, "horus.") if not m.name.endswith("__main__"))


def _error_classes() -> list[type[Exception]]:
    found: list[type[Exception]] = []
    for name in _modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == name:
                found.append(value)
    return found


def test_walk_finds_the_subsystems() -> None:
    names = {c.__name__ for c in _error_classes()}
    assert {"RhaiError", "SalError", "RpcError", "TmuxError", "OsirisError", "JobRejected"} <= names


def test_every_error_class_descends_from_horus_error() -> None:
    outside = [f"{c.__module__}.{c.__qualname__}" for c in _error_classes() if not issubclass(c, HorusError)]
    assert outside == [], f"error classes not under horus.errors.HorusError: {outside}"


@pytest.mark.parametrize(
    ("name", "also"),
    [
        ("horus.tmux.executor.ExecutorError", ValueError),
        ("horus.tmux.jobfiles.StateDirError", RuntimeError),
        ("horus.tmux.server.TmuxError", RuntimeError),
        ("horus.osiris.errors.InvalidInput", ValueError),
    ],
)
def test_builtin_bases_kept_for_existing_callers(name: str, also: type[Exception]) -> None:
    module, _, cls = name.rpartition(".")
    assert issubclass(getattr(importlib.import_module(module), cls), also)


@pytest.mark.parametrize("name", ["RhaiError", "SalError", "OsirisError", "RpcError", "TmuxError"])
def test_subsystem_roots_exported(name: str) -> None:
    cls = getattr(horus.errors, name)
    assert issubclass(cls, HorusError)
    assert getattr(horus, name) is cls
    assert name in horus.__all__


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = horus.errors.NoSuchError  # type: ignore[attr-defined]


def test_messages_and_codes_unchanged() -> None:
    from horus.rhai.errors import RhaiParseError
    from horus.supervisor.errors import RpcError

    assert str(RhaiParseError("bad token", 1, 3, "x = ;")) == "bad token (line 1, position 3)\nx = ;\n  ^"
    err = RpcError("job_not_found", "job 'x' not found")
    data = {"reason": "job_not_found", "field": ""}
    assert err.as_error() == {"code": -32200, "message": "job 'x' not found", "data": data}
