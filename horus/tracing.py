"""OpenTelemetry spans along a job's way: ``horus.submit`` (client), ``horus.admission``
(supervisor) and ``horus.execute`` (worker), linked through the job's signed ``traceparent``.

OpenTelemetry is optional. Without the ``opentelemetry-api`` package every function here returns
at its first check (:data:`AVAILABLE`); with it but no tracer provider configured (the API's
default proxy) they return after one look at the global provider, and a job gets a traceparent
only from a span already current in the caller. docs/tracing.md is the reference.

A span is parented on a job's traceparent only once the job's signature has been verified (by
the supervisor's admission, by the worker before it runs the job), so writing into Redis cannot
attach a job to someone else's trace.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from horus.models import Job, JobResult, JobStatus

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
except ImportError:  # pragma: no cover - exercised by a test that hides the package
    otel_context = None  # type: ignore[assignment]
    otel_trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

#: Whether ``opentelemetry-api`` can be imported; False makes every function here a no-op.
AVAILABLE = otel_trace is not None

SUBMIT = "horus.submit"
ADMISSION = "horus.admission"
EXECUTE = "horus.execute"
#: ``messaging.system`` of every span (OpenTelemetry's messaging conventions).
SYSTEM = "horus"

T = TypeVar("T")

_NO_SPAN: AbstractContextManager[None] = contextlib.nullcontext()
#: The provider last seen and its tracer (None: no provider configured), so a job pays one
#: identity test, not a tracer lookup.
_cached: tuple[object, Tracer | None] = (None, None)


def tracer() -> Tracer | None:
    """Horus's tracer when a tracer provider is configured, else None."""
    global _cached
    if otel_trace is None:
        return None
    provider = otel_trace.get_tracer_provider()
    if provider is _cached[0]:
        return _cached[1]
    found = None if _is_noop(provider) else provider.get_tracer("horus")
    _cached = (provider, found)
    return found


def _is_noop(provider: TracerProvider) -> bool:
    assert otel_trace is not None
    return isinstance(provider, otel_trace.ProxyTracerProvider | otel_trace.NoOpTracerProvider)


def traceparent_of(span_context: Any) -> str:
    """The W3C traceparent of a span context (version 00)."""
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"


def context_of(traceparent: str) -> Context:
    """An OpenTelemetry context whose (remote) parent is ``traceparent``; the value must have
    been validated (the job model does it) and its job verified."""
    assert otel_trace is not None
    _, trace_id, span_id, flags = traceparent.split("-")
    parent = otel_trace.SpanContext(
        int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=otel_trace.TraceFlags(int(flags, 16))
    )
    return otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(parent))


def _attributes(job: Job, operation: str) -> dict[str, Any]:
    return {
        "messaging.system": SYSTEM,
        "messaging.operation.type": operation,
        "messaging.destination.name": job.runner_id,
        "messaging.message.id": job.id,
    }


# -- client ---------------------------------------------------------------------------------
def submit_span() -> AbstractContextManager[Span | None]:
    """Around one submission: the current ``horus.submit`` span, or None (tracing off)."""
    found = tracer()
    if found is None:
        return _NO_SPAN
    kind = otel_trace.SpanKind.PRODUCER
    return found.start_as_current_span(SUBMIT, kind=kind, attributes={"messaging.system": SYSTEM})


def stamp(job: Job, span: Span | None, owned: bool) -> Job:
    """``job`` with the traceparent of ``span`` (or, without one, of the caller's current span),
    set before it is signed. A job that has a traceparent or is already signed is kept as it is:
    changing a signed job would break its signature. ``owned``: ``job`` may be changed in place."""
    if otel_trace is None:
        return job
    if span is not None:
        span.set_attributes(_attributes(job, "send"))
    if job.traceparent is not None or job.signatures:
        return job
    current = (span or otel_trace.get_current_span()).get_span_context()
    if not current.is_valid:
        return job
    if owned:
        job.traceparent = traceparent_of(current)
        return job
    return job.model_copy(update={"traceparent": traceparent_of(current)})


def submit_spans(jobs: list[Job], owned: list[bool], build: Callable[[list[Job]], T]) -> T:
    """A batch submission: one ``horus.submit`` span per job, each stamped into its job."""
    found = tracer()
    if found is None:
        return build([stamp(job, None, own) for job, own in zip(jobs, owned, strict=True)])
    kind = otel_trace.SpanKind.PRODUCER
    spans = [found.start_span(SUBMIT, kind=kind, attributes={"messaging.system": SYSTEM}) for _ in jobs]
    try:
        stamped = [stamp(job, span, own) for job, span, own in zip(jobs, spans, owned, strict=True)]
        return build(stamped)
    except BaseException as exc:
        for span in spans:
            _fail(span, exc)
        raise
    finally:
        for span in spans:
            span.end()


# -- supervisor -----------------------------------------------------------------------------
def admission(admit: Callable[[], Job], enqueue: Callable[[Job], T], owner: str | None) -> T:
    """Admit then enqueue a job, under a ``horus.admission`` span when tracing is on.

    The span starts before the checks but is created only after them: parented on the job's
    traceparent when the job was admitted (its signature verified), a root span when it was
    refused, so a refused job's traceparent is never trusted."""
    found = tracer()
    if found is None:
        return enqueue(admit())
    assert otel_trace is not None
    kind = otel_trace.SpanKind.SERVER
    began = time.time_ns()
    try:
        job = admit()
    except Exception as exc:
        span = found.start_span(ADMISSION, kind=kind, start_time=began, attributes={"messaging.system": SYSTEM})
        _fail(span, exc)
        span.end()
        raise
    parent = context_of(job.traceparent) if job.traceparent is not None else None
    attributes = _attributes(job, "receive")
    if owner:
        attributes["horus.owner"] = owner
    span = found.start_span(ADMISSION, parent, kind, attributes, start_time=began)
    with otel_trace.use_span(span, end_on_exit=True, record_exception=True, set_status_on_exception=True):
        return enqueue(job)


# -- worker ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Execution:
    """A running job's ``horus.execute`` span, current in the child until :func:`end_execution`."""

    span: Span
    token: object


def start_execution(job: Job, runner_id: str, worker_id: str, attempt: int) -> Execution | None:
    """The ``horus.execute`` span of a verified job, child of its traceparent, made current so a
    task's own spans nest under it; None when tracing is off. Call only after verification."""
    found = tracer()
    if found is None:
        return None
    assert otel_trace is not None and otel_context is not None
    parent = context_of(job.traceparent) if job.traceparent is not None else None
    attributes = _attributes(job, "process")
    attributes["messaging.destination.name"] = runner_id
    attributes["horus.worker.id"] = worker_id
    attributes["horus.job.attempt"] = attempt
    span = found.start_span(EXECUTE, parent, otel_trace.SpanKind.CONSUMER, attributes)
    token = otel_context.attach(otel_trace.set_span_in_context(span))
    return Execution(span, token)


def end_execution(execution: Execution, result: JobResult | None, exc: BaseException | None = None) -> None:
    """End the span with the job's status; a failure's error (and traceback) is recorded."""
    assert otel_trace is not None and otel_context is not None
    span = execution.span
    try:
        if exc is not None:
            _fail(span, exc)
        elif result is not None:
            span.set_attribute("horus.job.status", result.status.value)
            if result.exit_code is not None:
                span.set_attribute("horus.job.exit_code", result.exit_code)
            if result.status is not JobStatus.COMPLETED:
                _failed_result(span, result)
    finally:
        otel_context.detach(execution.token)  # type: ignore[arg-type]
        span.end()


def _failed_result(span: Span, result: JobResult) -> None:
    assert otel_trace is not None
    error = result.error or result.status.value
    event: dict[str, Any] = {"exception.type": f"horus.{result.status.value}", "exception.message": error}
    if result.traceback:
        event["exception.stacktrace"] = result.traceback
    span.add_event("exception", event)
    span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, error))


def _fail(span: Span, exc: BaseException) -> None:
    assert otel_trace is not None
    span.record_exception(exc)
    span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, str(exc)))
