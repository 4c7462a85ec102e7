"""Worker middleware: hooks around each job, registered like runner types.

A middleware is a :class:`Middleware` subclass whose methods are no-ops until overridden. A worker
runs the ones named by ``--middleware`` (an entry point of the ``horus.middleware`` group, or a
``module:Class`` path) through a :class:`Chain`, which keeps a raising hook from reaching the job
or the worker. docs/workers.md, "Middleware", is the reference.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from horus.errors import PluginError, SkipJob

if TYPE_CHECKING:
    from horus.models import Job, JobResult
    from horus.worker.context import JobContext

__all__ = ["ENTRY_POINT_GROUP", "Chain", "Middleware", "SkipJob", "WorkerInfo", "available", "load"]

ENTRY_POINT_GROUP = "horus.middleware"
log = logging.getLogger("horus.worker.middleware")


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """The worker child a hook runs in."""

    runner_id: str
    runner_type: str
    worker_id: str
    namespace: str


class Middleware:
    """Base class: every hook is a no-op. Built once in the worker's master, before it forks, so
    each child runs its own copy; ``on_job_killed`` runs in the master itself.

    ``on_worker_start`` and ``before_job`` run in the order the middleware were given; every other
    hook in the reverse order, so the first middleware listed sees a job first and last.
    """

    #: Worker options (``--option NAME=VALUE``) this middleware reads, with their help.
    options: ClassVar[dict[str, str]] = {}

    def __init__(self, config: dict[str, str] | None = None) -> None:
        self.config = config or {}

    def prepare(self) -> None:
        """Once, in the master, before forking: check the config, raise PluginError to refuse
        to start. Start no thread here (the master forks)."""

    def on_worker_start(self, worker: WorkerInfo) -> None:
        """In each child, after the runner's setup, before its first job."""

    def on_worker_stop(self, worker: WorkerInfo) -> None:
        """In each child on its way out, after its last result was stored, before the runner's
        teardown. A child killed (timeout, cancel, cold shutdown) never gets here."""

    def before_job(self, job: Job, ctx: JobContext) -> None:
        """A verified job is about to run. Raise :class:`SkipJob` to refuse it."""

    def on_job_error(self, job: Job, ctx: JobContext, exc: BaseException) -> None:
        """The runner raised ``exc`` (with its traceback); ``after_job`` follows. A runner that
        reports a failure as its outcome raises nothing: ``after_job`` sees its status."""

    def after_job(self, job: Job, ctx: JobContext, result: JobResult) -> None:
        """The job ended in its child; ``result`` is what is about to be stored. It is a copy:
        changing it changes nothing stored."""

    def on_job_killed(self, job_id: str, result: JobResult) -> None:
        """In the master: a job ended with its child, which never reached ``after_job`` (killed
        past its timeout or for a cancel, or the job ended its worker process). ``result`` has
        been stored. State kept by ``before_job`` lives in the child, not here."""

    def on_retry(self, job: Job, result: JobResult, delay_s: float) -> None:
        """A failed job's retry is scheduled ``delay_s`` seconds from now; ``result`` is the
        failed attempt's. Called through :meth:`Chain.retry`."""

    def on_dead_letter(self, job_id: str, reason: str) -> None:
        """A job was dead-lettered instead of run (``reason`` is its stored error)."""


class Chain:
    """The middleware of one worker, in order, with the rules each hook call follows."""

    def __init__(self, entries: list[tuple[str, Middleware]]) -> None:
        self.entries = entries
        self.names = [name for name, _ in entries]

    def __bool__(self) -> bool:
        return bool(self.entries)

    def _call(self, hook: str, entries: Iterable[tuple[str, Middleware]], *args: Any) -> None:
        for name, middleware in entries:
            try:
                getattr(middleware, hook)(*args)
            except Exception:
                # A broken hook must cost its own work only, never the job's or the worker's.
                log.exception("middleware %s: %s raised; going on without it", name, hook)

    def worker_start(self, worker: WorkerInfo) -> None:
        self._call("on_worker_start", self.entries, worker)

    def worker_stop(self, worker: WorkerInfo) -> None:
        self._call("on_worker_stop", reversed(self.entries), worker)

    def before(self, job: Job, ctx: JobContext) -> tuple[int, str | None]:
        """Run ``before_job`` in order; how many ran, and why the job is refused (or None).

        A :class:`SkipJob` stops the later ones: only the middleware whose ``before_job`` ran
        get ``after_job``, so each opening hook has its closing one.
        """
        for entered, (name, middleware) in enumerate(self.entries, 1):
            try:
                middleware.before_job(job, ctx)
            except SkipJob as exc:
                return entered, f"skipped by middleware {name}: {exc}"
            except Exception:
                log.exception("middleware %s: before_job raised; going on without it", name)
        return len(self.entries), None

    def error(self, job: Job, ctx: JobContext, exc: BaseException) -> None:
        self._call("on_job_error", reversed(self.entries), job, ctx, exc)

    def after(self, job: Job, ctx: JobContext, result: JobResult, entered: int) -> None:
        self._call("after_job", reversed(self.entries[:entered]), job, ctx, result.model_copy())

    def killed(self, job_id: str, result: JobResult) -> None:
        self._call("on_job_killed", reversed(self.entries), job_id, result.model_copy())

    def retry(self, job: Job, result: JobResult, delay_s: float) -> None:
        """Once a retry is scheduled: by the child after finish.lua stored it, or by the master
        for a job it ended."""
        self._call("on_retry", reversed(self.entries), job, result.model_copy(), delay_s)

    def dead_letter(self, job_id: str, reason: str) -> None:
        self._call("on_dead_letter", reversed(self.entries), job_id, reason)


def available() -> dict[str, Any]:
    """Installed middleware by name (entry point objects, not yet loaded)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_class(name: str) -> type[Middleware]:
    """A middleware class from an entry-point name or a ``module:Class`` path."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise PluginError(f"cannot load middleware {name!r}: {exc}") from None
    else:
        found = available()
        if name not in found:
            names = ", ".join(sorted(found)) or "none"
            raise PluginError(
                f"unknown middleware {name!r}; installed middleware: {names} (or give a module:Class path)"
            )
        try:
            cls = found[name].load()
        except Exception as exc:
            raise PluginError(f"middleware {name!r} failed to load: {exc}") from exc
    if not isinstance(cls, type) or not issubclass(cls, Middleware):
        raise PluginError(f"middleware {name!r} does not name a horus.middleware.Middleware subclass")
    return cls


def load(names: list[str], options: dict[str, str]) -> Chain:
    """Build and prepare the named middleware, each with the options it declares."""
    entries = []
    for name in names:
        cls = load_class(name)
        middleware = cls({key: value for key, value in options.items() if key in cls.options})
        middleware.prepare()
        entries.append((name, middleware))
    return Chain(entries)


def owned_options(chain: Chain) -> set[str]:
    return {option for _, middleware in chain.entries for option in type(middleware).options}
