"""The base of runners whose payload is a Rhai script (``sal``, ``osiris``).

A subclass says which host modules a job's script sees; this class compiles the payload,
streams ``print``/``debug`` lines to the job's output and log stream as they come, keeps the
script's final value, and turns a Rhai error or ``throw`` into a failed job naming line:column.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from horus.models import INPUTS_ENV, Job, JobStatus
from horus.plugin import BaseRunner, Outcome
from horus.procutil import memory_limit_mib
from horus.rhai import Engine, RhaiError, RhaiLimitError, RhaiMemoryError
from horus.rhai.ops import to_display
from horus.worker.context import JobContext

#: Generous defaults: a job's timeout is the real bound; these stop a runaway script from
#: eating the worker's memory before it hits the timeout.
DEFAULT_LIMITS: dict[str, int] = {
    "max_call_depth": 64,
    "max_string_size": 64 * 1024 * 1024,
    "max_array_size": 10_000_000,
    "max_map_size": 1_000_000,
}


def to_json_value(value: Any, modules: dict[str, Any] | None = None) -> Any:
    """A script's value as something JSON holds; any other value as its Rhai text.

    A module the job registered shows as ``<module NAME>`` and other host values (ranges,
    timestamps, fn pointers, connections) as Rhai prints them, never as a Python repr, whose
    memory address would leak into the stored result.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [to_json_value(item, modules) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item, modules) for key, item in value.items()}
    for name, module in (modules or {}).items():
        if value is module:
            return f"<module {name}>"
    return to_display(value)


def script_inputs(job: Job) -> Any:
    """The ``inputs`` variable every script sees: upstream results of a workflow step, else ``#{}``."""
    raw = job.env_vars.get(INPUTS_ENV)
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return {}


def out_of_memory() -> str:
    limit = memory_limit_mib()
    if not limit:
        return "out of memory"
    return f"out of memory: the job passed the worker's {limit} MiB limit (--max-job-memory)"


def describe_error(err: RhaiError) -> str:
    """One line a person can act on: the message and where, without the caret block."""
    if err.line:
        return f"{err.message} (line {err.line}, position {err.column})"
    return err.message


class RhaiScriptRunner(BaseRunner):
    """Runs the job's payload as a Rhai script with the modules :meth:`modules` returns."""

    runner_type: ClassVar[str] = ""
    #: The worker's ``--max-job-memory`` unless set: a script can build strings and arrays
    #: without bound (within the per-value limits above), and all of it lives in the child.
    default_max_job_memory_mb: ClassVar[int] = 1024

    def modules(self, job: Job, ctx: JobContext) -> dict[str, Any]:
        """Host modules by the name scripts use (``os``, ``osiris``…), built per job."""
        return {}

    def host_types(self) -> tuple[type, ...]:
        """Classes of objects the modules return to scripts (a client, a model) whose public
        methods scripts may call; the engine keeps any other host object opaque."""
        return ()

    def close_modules(self, modules: dict[str, Any]) -> None:
        """Release what :meth:`modules` opened (connections); called after every job."""
        for module in modules.values():
            close = getattr(module, "_close", None)
            if callable(close):
                close()

    def execute(self, job: Job, ctx: JobContext) -> Outcome:
        lines: list[str] = []

        def emit(text: str) -> None:
            lines.append(text)
            ctx.log(text)

        engine = Engine(deadline=ctx.deadline, **DEFAULT_LIMITS)
        engine.on_print(emit)
        engine.on_debug(emit)
        modules = self.modules(job, ctx)
        try:
            for name, module in modules.items():
                engine.register_module(name, module)
            for cls in self.host_types():
                engine.register_type(cls)
            value = engine.run(engine.compile(job.payload), {"inputs": script_inputs(job)})
        except (RhaiMemoryError, MemoryError):
            return Outcome.failed(out_of_memory(), output="\n".join(lines), recycle=True)
        except RhaiLimitError as err:
            output = "\n".join(lines)
            if time.monotonic() >= ctx.deadline:
                return Outcome(JobStatus.TIMEOUT, output=output, error=f"timed out after {job.timeout} s")
            return Outcome.failed(describe_error(err), output=output)
        except RhaiError as err:
            return Outcome.failed(describe_error(err), output="\n".join(lines))
        finally:
            self.close_modules(modules)
        result = to_json_value(value, modules)
        try:
            json.dumps(result)
        except ValueError as exc:  # NaN and infinity have no JSON form
            return Outcome.failed(f"the script's value cannot be stored as JSON: {exc}", output="\n".join(lines))
        return Outcome(output="\n".join(lines), value=result)
