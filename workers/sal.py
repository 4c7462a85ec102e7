"""The ``sal`` runner: the payload is a Rhai script with the System Abstraction Layer modules."""

from __future__ import annotations

from typing import Any, ClassVar

from horus.errors import PluginError
from horus.models import Job
from horus.sal import registry
from horus.sal.common import SalError
from horus.sal.paths import PathGuard
from horus.scripting import RhaiScriptRunner
from horus.worker.context import JobContext


class SalRunner(RhaiScriptRunner):
    runner_type: ClassVar[str] = "sal"
    options: ClassVar[dict[str, str]] = {
        "modules": f"comma-separated SAL modules to offer (default: all of {', '.join(registry.MODULES)})",
        "root": "directory the os module is confined to (default: no confinement)",
    }

    def prepare(self) -> None:
        self._settings()

    def setup(self) -> None:
        self._enabled, self._guard = self._settings()

    def _settings(self) -> tuple[tuple[str, ...], PathGuard]:
        """The enabled modules and the path guard; a bad option stops the worker at start."""
        try:
            return registry.parse_modules(self.config.get("modules")), PathGuard(self.config.get("root") or None)
        except SalError as exc:
            raise PluginError(f"sal runner: {exc}") from None

    def modules(self, job: Job, ctx: JobContext) -> dict[str, Any]:
        if not hasattr(self, "_enabled"):
            self.setup()
        return registry.build(self._enabled, ctx, self._guard)

    def host_types(self) -> tuple[type, ...]:
        return registry.HOST_TYPES
