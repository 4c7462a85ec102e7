"""``horus.Client``: the supervisor's JSON-RPC API from Python (sync, one HTTP connection per thread).

Method names follow :class:`horus.RedisClient` (``submit``, ``run``, ``result``, ``logs``,
``cancel``), so code can move from talking to Redis directly to talking to a supervisor.
Refusals raise the same :class:`JobRejected` / :class:`JobNotFound` a direct submit raises.
"""

from __future__ import annotations

import functools
import http.client
import itertools
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import orjson
from nacl.signing import SigningKey

from horus import tracing
from horus.admission import parse_job, prepare
from horus.deadletter import PAGE_DEFAULT, DeadJob, DeadPage, DeadPurged, DeadRetried
from horus.errors import (
    JOB_REFUSALS,
    ConnectionFailed,
    HorusError,
    JobActive,
    JobNotFound,
    JobRejected,
    NotDeadLettered,
    NotReplicated,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleRejected,
    WaitTimeout,
)
from horus.inspect import ActiveJob, QueueInfo, WorkerInfo
from horus.models import TERMINAL, Job, JobResult
from horus.signing import Signer

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from horus.schedule import Schedule
    from horus.schedules import ScheduleInfo

#: One server-side wait (the server caps it too); a longer wait is several calls.
_WAIT_STEP_S = 60.0
#: How long one job.tail call waits for a new line before the follower asks again.
TAIL_WAIT_S = 10.0


T = TypeVar("T")

#: How long a waiting call rides out a server that cannot reach Redis (a failover, a restart)
#: before it gives the error to its caller.
UNAVAILABLE_RETRY_S = 30.0


class SupervisorError(HorusError):
    """A JSON-RPC error from the supervisor: ``code``, ``reason`` (stable name), ``field``."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data or {}
        self.reason = str(self.data.get("reason", ""))
        self.field = str(self.data.get("field", "") or "")


def ride_out(step: Callable[[], T], deadline: float | None) -> T:
    """``step()`` (a read, safe to send again), tried again while the server answers
    ``unavailable`` (its Redis failing over), for up to UNAVAILABLE_RETRY_S or ``deadline``."""
    gave_up, pause = time.monotonic() + UNAVAILABLE_RETRY_S, 0.1
    while True:
        try:
            return step()
        except SupervisorError as exc:
            until = time.monotonic() + pause
            if exc.reason != "unavailable" or until > gave_up or (deadline is not None and until > deadline):
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


class Client:
    def __init__(
        self, url: str, token: str | None = None, key: SigningKey | None = None, timeout_s: float = 30.0
    ) -> None:
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectionFailed(f"bad supervisor URL {url!r}: expected http(s)://HOST[:PORT]")
        self.url = url
        self._parts = parts
        self.token = token
        self.signer = Signer(key) if key is not None else None
        self.timeout_s = timeout_s
        self._local = threading.local()
        # Every thread's connection, so close() can close them all (a client shared between threads).
        self._opened: set[http.client.HTTPConnection] = set()
        self._opened_lock = threading.Lock()
        self._ids = itertools.count(1)

    # -- transport --------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            host, port = self._parts.hostname or "", self._parts.port
            if self._parts.scheme == "https":
                conn = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout_s, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout_s)
            self._local.conn = conn
            with self._opened_lock:
                self._opened.add(conn)
        return conn

    def _post(self, body: bytes, timeout_s: float) -> bytes:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (1, 2):  # a kept-alive connection the server has closed fails once
            conn = self._connection()
            conn.timeout = timeout_s
            try:
                conn.request("POST", self._parts.path or "/", body=body, headers=headers)
                return conn.getresponse().read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                with self._opened_lock:
                    self._opened.discard(conn)
                if attempt == 2 or isinstance(exc, TimeoutError):
                    raise ConnectionFailed(f"cannot reach the supervisor at {self.url}: {exc}") from None
        raise AssertionError("unreachable")

    def call(self, method: str, timeout_s: float | None = None, **params: Any) -> Any:
        """Call one method with named params; returns its result or raises."""
        request = {"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}
        return result_of(self._post(orjson.dumps(request), timeout_s or self.timeout_s), self.url)

    def close(self) -> None:
        """Close every thread's connection (call when no other thread is using the client)."""
        with self._opened_lock:
            opened, self._opened = self._opened, set()
        for conn in opened:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- jobs -------------------------------------------------------------------------
    def build(self, job: Job | dict[str, Any] | str | bytes, span: Span | None = None) -> Job:
        """Parse, take the trace context (``span``'s, else the current one's) unless the job has
        one, and sign with the client's key when needed (the supervisor checks the rest)."""
        owned = not isinstance(job, Job)
        parsed = tracing.stamp(job if isinstance(job, Job) else parse_job(job), span, owned)
        return prepare(parsed, self.signer, owned)

    def _wire(self, job: Job) -> dict[str, Any]:
        return wire(job)

    def submit(self, job: Job | dict[str, Any] | str | bytes) -> str:
        with tracing.submit_span() as span:
            return str(self.call("job.create", job=self._wire(self.build(job, span))))

    def run(self, job: Job | dict[str, Any] | str | bytes, wait_s: float | None = None) -> JobResult:
        with tracing.submit_span() as span:
            params: dict[str, Any] = {"job": self._wire(self.build(job, span))}
            if wait_s is not None:
                params["wait_s"] = wait_s
            timeout = (wait_s or self.timeout_s) + 10
            return JobResult.model_validate(self.call("job.run", timeout_s=timeout, **params))

    def status(self, job_id: str) -> dict[str, Any]:
        return dict(self.call("job.status", job_id=job_id))

    def result(self, job_id: str, wait_s: float | None = None) -> JobResult:
        """The result; with ``wait_s``, once the job ends or ``wait_s`` passes (then the status so far)."""
        if wait_s is None:
            return JobResult.model_validate(self.call("job.result", job_id=job_id))
        raw = self.call("job.result", timeout_s=wait_s + 10, job_id=job_id, wait_s=wait_s)
        return JobResult.model_validate(raw)

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobResult:
        """Block until the job ends (the server wakes the call; no polling). Raises WaitTimeout."""
        started = time.monotonic()
        deadline = None if timeout_s is None else started + timeout_s
        while True:
            # The server caps one wait; a long one is several calls, each returning at once when the job ends.
            left = _WAIT_STEP_S if deadline is None else max(deadline - time.monotonic(), 0.001)
            outcome = ride_out(functools.partial(self.result, job_id, wait_s=min(left, _WAIT_STEP_S)), deadline)
            if outcome.status in TERMINAL:
                return outcome
            if deadline is not None and time.monotonic() >= deadline:
                waited = time.monotonic() - started
                raise WaitTimeout(f"job {job_id} still {outcome.status.value} after {waited:.1f} s")

    def logs(self, job_id: str, follow: bool = False) -> Iterator[str]:
        """Output lines so far; with ``follow``, keep yielding as they come until the job ends."""
        if not follow:
            return iter([str(line) for line in self.call("job.logs", job_id=job_id)])
        return self._follow(job_id)

    def _follow(self, job_id: str) -> Iterator[str]:
        cursor = "0-0"
        while True:
            page = self.call("job.tail", timeout_s=TAIL_WAIT_S + 10, job_id=job_id, cursor=cursor, wait_s=TAIL_WAIT_S)
            yield from (str(line) for line in page["lines"])
            cursor = str(page["cursor"])
            if page["ended"]:
                return

    def cancel(self, job_id: str) -> str:
        return str(self.call("job.cancel", job_id=job_id)["status"])

    def delete(self, job_id: str) -> None:
        """Forget an ended job (a queued or running one raises: cancel it first)."""
        self.call("job.delete", job_id=job_id)

    def jobs(
        self,
        runner_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if runner_id:
            params["runner_id"] = runner_id
        if status:
            params["status"] = status
        if created_after is not None:
            params["created_after"] = created_after
        if created_before is not None:
            params["created_before"] = created_before
        return dict(self.call("job.list", **params))

    # -- runners and keys -----------------------------------------------------------------
    def runners(self) -> list[dict[str, Any]]:
        return list(self.call("runner.list"))

    def runner_health(self, runner_id: str) -> dict[str, Any]:
        return dict(self.call("runner.health", runner_id=runner_id))

    # -- inspect: live workers and queues (horus/inspect.py) ----------------------------------
    def _inspect(self, method: str, runner_id: str | None) -> list[dict[str, Any]]:
        if runner_id is None:
            return list(self.call(method))
        return list(self.call(method, runner_id=runner_id))

    def inspect_workers(self, runner_id: str | None = None) -> list[WorkerInfo]:
        """Each live worker master with the jobs it runs now."""
        return [WorkerInfo.model_validate(w) for w in self._inspect("inspect.workers", runner_id)]

    def inspect_active(self, runner_id: str | None = None) -> list[ActiveJob]:
        """The jobs running now on live workers."""
        return [ActiveJob.model_validate(j) for j in self._inspect("inspect.active", runner_id)]

    def inspect_queues(self, runner_id: str | None = None) -> list[QueueInfo]:
        """Each runner's queue depth, in flight, scheduled and dead counts, live workers."""
        return [QueueInfo.model_validate(q) for q in self._inspect("inspect.queues", runner_id)]

    def register_runner(self, runner_id: str, runner_type: str) -> dict[str, Any]:
        return dict(self.call("runner.register", runner_id=runner_id, runner_type=runner_type))

    def remove_runner(self, runner_id: str) -> None:
        self.call("runner.remove", runner_id=runner_id)

    def serving(self, runner_id: str) -> bool:
        """Whether a live worker serves this registered runner (``runner.health``)."""
        try:
            return bool(self.runner_health(runner_id)["alive"])
        except SupervisorError as exc:
            if exc.reason == "runner_not_found":
                return False
            raise

    def add_key(self, public_key: str, runners: list[str] | None = None) -> dict[str, Any]:
        return dict(self.call("key.add", public_key=public_key, runners=runners or ["*"]))

    def remove_key(self, public_key: str) -> None:
        self.call("key.remove", public_key=public_key)

    def keys(self) -> list[dict[str, Any]]:
        return list(self.call("key.list"))

    # -- the dead-letter list (admin token) ---------------------------------------------
    @property
    def schedules(self) -> RemoteSchedules:
        """The supervisor's ``schedule.*`` methods, the same calls as :class:`ScheduleStore`'s."""
        return RemoteSchedules(self)

    def dead_list(self, runner_id: str) -> list[DeadJob]:
        return [DeadJob.model_validate(entry) for entry in self.call("dead.list", runner_id=runner_id)]

    def dead_page(self, runner_id: str, limit: int = PAGE_DEFAULT, cursor: int = 0) -> DeadPage:
        """A page of :meth:`dead_list`: pass its ``next_cursor`` back as ``cursor`` (null: the end)."""
        return DeadPage.model_validate(self.call("dead.list", runner_id=runner_id, limit=limit, cursor=cursor))

    def dead_retry(self, runner_id: str, job_ids: list[str] | None = None) -> DeadRetried:
        """Queue dead-lettered jobs again: ``job_ids`` all or none (NotDeadLettered), or every
        entry when None. Workers verify the jobs (signature, max_job_age) again."""
        params: dict[str, Any] = {"all": True} if job_ids is None else {"job_ids": job_ids}
        return DeadRetried.model_validate(self.call("dead.retry", runner_id=runner_id, **params))

    def dead_purge(self, runner_id: str) -> DeadPurged:
        return DeadPurged.model_validate(self.call("dead.purge", runner_id=runner_id))


def wire(job: Job) -> dict[str, Any]:
    """The job as ``job.create`` takes it: without its status, and without a traceparent it
    does not have, so a supervisor that predates the field still admits it."""
    return job.model_dump(exclude={"status"} if job.traceparent is not None else {"status", "traceparent"})


def result_of(raw: bytes, url: str) -> Any:
    """A JSON-RPC reply's result, or the error it carries raised as the matching Horus error."""
    try:
        reply = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ConnectionFailed(f"the supervisor at {url} did not answer with JSON") from None
    error = reply.get("error")
    if error is not None:
        raise translate(SupervisorError(int(error.get("code", 0)), str(error.get("message", "")), error.get("data")))
    return reply.get("result")


class RemoteSchedules:
    """Schedules through a supervisor (docs/beat.md); signed by the caller before :meth:`add`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def add(self, schedules: Sequence[Schedule], replace: bool = False) -> None:
        stored = [{**schedule.stored(), "enabled": schedule.enabled} for schedule in schedules]
        self.client.call("schedule.add", schedules=stored, replace=replace)

    def infos(self) -> list[ScheduleInfo]:
        from horus.schedules import ScheduleInfo

        return [ScheduleInfo.model_validate(entry) for entry in self.client.call("schedule.list")]

    def remove(self, name: str) -> None:
        self.client.call("schedule.remove", name=name)

    def pause(self, name: str) -> None:
        self.client.call("schedule.pause", name=name)

    def resume(self, name: str) -> None:
        self.client.call("schedule.resume", name=name)

    def run(self, name: str) -> str:
        """Fire it once now; the job id."""
        return str(self.client.call("schedule.run", name=name)["job_id"])


def translate(error: SupervisorError) -> HorusError:
    """The Horus error a supervisor's error stands for, so a caller (and the CLI) sees the same
    errors through a supervisor as straight to Redis; other errors stay SupervisorError."""
    if error.reason in JOB_REFUSALS:
        return _refusal(error)
    build = _ERRORS.get(error.reason)
    return error if build is None else build(error)


def _refusal(error: SupervisorError) -> JobRejected:
    message = str(error)
    # Workflow refusals share some codes (unknown_runner) and carry their own prefix.
    kind = ScheduleRejected if message.startswith("schedule rejected: ") else JobRejected
    for prefix in ("schedule rejected: ", "job rejected: ", "workflow rejected: ", f"{error.field}: "):
        message = message.removeprefix(prefix)
    return kind(error.reason, error.field, message)


def _named(error: SupervisorError) -> str:
    return str(error.data.get("name", "")) or "?"


_ERRORS: dict[str, Callable[[SupervisorError], HorusError]] = {
    "job_not_found": lambda e: JobNotFound(str(e.data.get("job_id", "")) or e.field or "?"),
    "not_dead_lettered": lambda e: NotDeadLettered(
        str(e.data.get("job_id", "")), "", str(e.data.get("why", "")), str(e)
    ),
    "job_active": lambda e: JobActive(e.field, str(e.data.get("status", "active"))),
    "schedule_not_found": lambda e: ScheduleNotFound(_named(e)),
    "schedule_exists": lambda e: ScheduleExists(_named(e)),
    "not_replicated": lambda e: NotReplicated(
        "", int(e.data.get("acknowledged", 0)), int(e.data.get("wanted", 0)), 0, "", message=str(e)
    ),
}
