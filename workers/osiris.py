"""The ``osiris`` runner: Rhai scripts with ``osiris``, the document store in the worker's Redis."""

from __future__ import annotations

from typing import Any, ClassVar

from horus.errors import PluginError
from horus.models import Job
from horus.osiris.binding import ScriptCollection, ScriptOsiris
from horus.osiris.store import Store
from horus.scripting import RhaiScriptRunner
from horus.worker.context import JobContext


class OsirisRunner(RhaiScriptRunner):
    runner_type: ClassVar[str] = "osiris"
    _store: Store | None = None
    _store_at: tuple[str, str] = ("", "")

    def _store_for(self, ctx: JobContext) -> Store:
        # One connection per worker child, opened at its first job (after the fork), in the
        # worker's own Redis and namespace so a job's data sits beside its queue.
        if not ctx.redis_url:
            raise PluginError("the osiris runner needs the worker's Redis URL in the job context")
        where = (ctx.redis_url, ctx.namespace)
        if self._store is None or self._store_at != where:
            self.teardown()
            self._store, self._store_at = Store(ctx.redis_url, namespace=ctx.namespace), where
        return self._store

    def modules(self, job: Job, ctx: JobContext) -> dict[str, Any]:
        return {"osiris": ScriptOsiris(self._store_for(ctx))}

    def host_types(self) -> tuple[type, ...]:
        return (ScriptCollection,)

    def teardown(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
