"""Spans along a job's way (docs/tracing.md): the client's and the supervisor's are read from an
in-memory exporter in this process; the worker's, made in its child processes, from the file the
test middleware tests.fixtures.tracing:SpansToFile has them exported to."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from nacl.signing import SigningKey
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from horus.admission import check_signatures
from horus.broker import Broker
from horus.client import RedisClient
from horus.errors import JobRejected
from horus.models import JobStatus
from horus.sdk import Client
from horus.signing import generate_key, public_hex
from horus.tracing import traceparent_of
from tests.conftest import StartWorker
from tests.integration.test_cli import horus, write_job
from tests.integration.test_supervisor import ADMIN, Server, api, serve
from tests.integration.test_worker import WAIT, task

__all__ = ["api", "serve"]  # fixtures used here

SPANS_TO_FILE = "tests.fixtures.tracing:SpansToFile"
#: A trace of someone else's, valid in form.
FOREIGN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """An SDK provider set globally for this test only, exporting to memory.

    The API lets a process set its provider once; the test puts back the unset state (as
    OpenTelemetry's own test utilities do) so no other test runs with tracing on."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_provider()
    trace.set_tracer_provider(provider)
    yield exporter
    _reset_provider()
    provider.shutdown()


def _reset_provider() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


def by_name(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def file_spans(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def execution_span(path: Path, job_id: str) -> dict[str, Any]:
    """The worker's span of ``job_id``, once its child exported it (before storing the result)."""
    deadline = time.monotonic() + WAIT
    while True:
        found = [s for s in file_spans(path) if s["attributes"].get("messaging.message.id") == job_id]
        if found:
            assert len(found) == 1, found
            return found[0]
        assert time.monotonic() < deadline, f"no horus.execute span for {job_id} in {file_spans(path)}"
        time.sleep(0.05)


def hex_ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    context = span.get_span_context()
    assert context is not None
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}", parent


def traced_worker(start_worker: StartWorker, span_file: Path) -> None:
    start_worker("r1", "--middleware", SPANS_TO_FILE, "--option", f"span_file={span_file}")


def test_client_supervisor_and_worker_spans_share_one_trace(
    spans: InMemorySpanExporter, api: Server, key: SigningKey, start_worker: StartWorker, tmp_path: Path
) -> None:
    span_file = tmp_path / "spans.jsonl"
    traced_worker(start_worker, span_file)
    with (
        Client(api.url, token=ADMIN, key=key) as client,
        trace.get_tracer("test").start_as_current_span("caller") as caller,
    ):
        result = client.run(task("add", 2, 3), wait_s=WAIT)
    assert result.status is JobStatus.COMPLETED, result

    (submit,) = by_name(spans, "horus.submit")
    (admission,) = by_name(spans, "horus.admission")
    trace_id, submit_id, submit_parent = hex_ids(submit)
    assert submit_parent == f"{caller.get_span_context().span_id:016x}"
    assert submit.kind is trace.SpanKind.PRODUCER
    assert submit.attributes is not None and submit.attributes["messaging.message.id"] == result.job_id
    # The job carries the submit span's context, signed: both later spans are its children.
    assert hex_ids(admission)[0] == trace_id and hex_ids(admission)[2] == submit_id
    assert admission.attributes is not None
    assert admission.attributes["messaging.destination.name"] == "r1"
    assert admission.attributes["messaging.system"] == "horus"

    executed = execution_span(span_file, result.job_id)
    assert (executed["trace_id"], executed["parent_id"]) == (trace_id, submit_id)
    assert executed["name"] == "horus.execute" and executed["kind"] == "CONSUMER"
    assert executed["attributes"]["horus.job.status"] == "completed"
    assert executed["attributes"]["horus.job.attempt"] == 1
    assert executed["attributes"]["messaging.destination.name"] == "r1"
    assert executed["status"] == "UNSET"


def test_a_direct_submit_links_the_worker_span_and_records_a_failure(
    spans: InMemorySpanExporter, client: RedisClient, start_worker: StartWorker, tmp_path: Path
) -> None:
    span_file = tmp_path / "spans.jsonl"
    traced_worker(start_worker, span_file)
    job_id = client.submit(task("boom"))
    assert client.job(job_id).traceparent is not None
    result = client.wait(job_id, WAIT)
    assert result.status is JobStatus.FAILED

    (submit,) = by_name(spans, "horus.submit")
    trace_id, submit_id, parent = hex_ids(submit)
    assert parent is None  # no caller span: the submit span starts the trace
    assert client.job(job_id).traceparent == traceparent_of(submit.get_span_context())
    executed = execution_span(span_file, job_id)
    assert (executed["trace_id"], executed["parent_id"]) == (trace_id, submit_id)
    assert executed["status"] == "ERROR" and "exception" in executed["events"]
    assert executed["attributes"]["horus.job.status"] == "failed"


def test_a_traceparent_altered_in_redis_is_refused_and_traces_nothing(
    spans: InMemorySpanExporter,
    client: RedisClient,
    broker: Broker,
    r: redis.Redis,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    """Write access to Redis cannot attach a job to someone else's trace."""
    tampered = client.submit(task("add", 1, 1))
    spec_key = broker.keys.spec("r1", tampered)
    stored = json.loads(r.get(spec_key) or "{}")
    assert stored["traceparent"] != FOREIGN
    r.set(spec_key, json.dumps({**stored, "traceparent": FOREIGN}))

    span_file = tmp_path / "spans.jsonl"
    traced_worker(start_worker, span_file)
    result = client.wait(tampered, WAIT)
    assert result.status is JobStatus.FAILED
    assert result.error is not None and result.error.startswith("rejected (tampered)"), result.error
    # A job after it is traced, so the worker's spans are being written: none is the tampered one's.
    later = client.submit(task("add", 2, 2))
    assert client.wait(later, WAIT).status is JobStatus.COMPLETED
    execution_span(span_file, later)
    assert not [s for s in file_spans(span_file) if s["attributes"].get("messaging.message.id") == tampered]
    assert not [s for s in file_spans(span_file) if s["trace_id"] == FOREIGN.split("-")[1]]


def test_a_refused_job_gets_a_root_admission_span_not_its_traceparent(spans: InMemorySpanExporter, api: Server) -> None:
    with Client(api.url, token=ADMIN, key=generate_key()) as stranger, pytest.raises(JobRejected) as refused:
        stranger.submit(task("add", 1, 2, traceparent=FOREIGN))
    assert refused.value.code == "untrusted_key"
    (admission,) = by_name(spans, "horus.admission")
    trace_id, _, parent = hex_ids(admission)
    assert parent is None and trace_id != FOREIGN.split("-")[1]
    assert admission.status.status_code is trace.StatusCode.ERROR


def test_the_caller_s_traceparent_is_kept_and_signed(spans: InMemorySpanExporter, client: RedisClient) -> None:
    job_id = client.submit(task("add", 1, 2, traceparent=FOREIGN))
    assert client.job(job_id).traceparent == FOREIGN
    (submit,) = by_name(spans, "horus.submit")
    assert submit.attributes is not None and submit.attributes["messaging.message.id"] == job_id


def test_without_a_provider_jobs_carry_no_traceparent(client: RedisClient, key: SigningKey) -> None:
    job_id = client.submit(task("add", 1, 2))
    assert client.job(job_id).traceparent is None
    assert "traceparent" not in client.broker.call("GET", client.broker.keys.spec("r1", job_id))
    assert public_hex(key)  # the client signed it as ever


def test_submit_many_stamps_each_job_with_its_own_span(spans: InMemorySpanExporter, client: RedisClient) -> None:
    ids = client.submit_many([task("add", n, n) for n in range(3)])
    submits = by_name(spans, "horus.submit")
    assert len(submits) == 3
    stamped = {client.job(job_id).traceparent for job_id in ids}
    assert stamped == {traceparent_of(s.get_span_context()) for s in submits}


# -- the command line -------------------------------------------------------------------------
def test_submit_traceparent_flag_signs_it_into_the_job(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, broker: Broker, r: redis.Redis
) -> None:
    env = {"redis_url": redis_url, "namespace": namespace}
    done = horus("submit", str(write_job(tmp_path)), "--key", str(key_file), "--traceparent", FOREIGN, **env)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    job = broker.job(job_id)
    assert job.traceparent == FOREIGN
    check_signatures(job)


def test_submit_refuses_a_bad_traceparent_flag(
    tmp_path: Path, key_file: Path, redis_url: str, namespace: str, r: redis.Redis
) -> None:
    flag = ("--traceparent", FOREIGN.upper())
    done = horus(
        "submit", str(write_job(tmp_path)), "--key", str(key_file), *flag, redis_url=redis_url, namespace=namespace
    )
    assert done.returncode != 0
    assert "traceparent: must be a W3C traceparent" in done.stderr, done.stderr
    assert r.dbsize() == 0
