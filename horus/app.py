"""``horus.Horus``: the app object of the Celery-style Python API.

    app = Horus("runner1", redis_url="redis://127.0.0.1:6379/0", key="client.key")

    @app.task(timeout=30, retries=2)
    def add(a: int, b: int) -> int:
        return a + b

    add.delay(2, 3).get(timeout=10)  # 5: signed, queued, run by a worker, waited for

Creating the app and registering tasks touch nothing: a worker imports the same module to
find the tasks. Settings, the key and the connection are resolved on the first submit, from
the arguments, else as the CLI resolves them (``HORUS_*`` variables, ``horus.toml``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload

from nacl.signing import SigningKey
from pydantic import ValidationError

from horus import eager as eager_mode
from horus import tracing
from horus.admission import admit, prepare, rejection
from horus.client import RedisClient
from horus.config import redis_url, setting
from horus.errors import ConfigError
from horus.handle import EagerHandle, Handle
from horus.keys import DEFAULT_NAMESPACE
from horus.models import Job, JobResult, check_id
from horus.sdk import Client, wire
from horus.signing import Signer, load_key
from horus.tasks import TaskSpec, current_job, encode_call, register
from horus.wait_async import wait_redis, wait_supervisor

P = ParamSpec("P")
R = TypeVar("R")

#: Job fields a task's options and ``apply_async`` may set (each checked as the Job checks it).
OPTION_FIELDS = ("timeout", "retries", "retry_backoff_s", "retry_backoff_max_s", "priority", "env_vars")
#: Eager results kept for :meth:`Horus.handle`, the oldest dropped past this.
EAGER_KEPT = 10_000
_TRUE = ("1", "true", "yes", "on")

KeyInput = SigningKey | str | os.PathLike[str] | None


class Horus:
    """Tasks, and the client that submits their calls: straight to Redis, or through a
    supervisor (``supervisor=URL, token=...``). ``eager=True`` (or ``HORUS_EAGER=1``) runs
    every call in-process at ``delay()`` instead, for tests."""

    def __init__(
        self,
        runner_id: str | None = None,
        *,
        redis_url: str | None = None,
        namespace: str | None = None,
        key: KeyInput = None,
        supervisor: str | None = None,
        token: str | None = None,
        eager: bool | None = None,
    ) -> None:
        if runner_id is not None:
            _checked_runner(runner_id)
        if redis_url and supervisor:
            raise ConfigError("give Horus(...) redis_url= or supervisor=, not both")
        self.runner_id = runner_id
        self._redis_url = redis_url
        self._namespace = namespace
        self._key = key
        self._supervisor = supervisor
        self._token = token
        self._eager = eager
        self._client: RedisClient | Client | None = None
        self._signer: Signer | None = None
        self._lock = threading.Lock()
        self._eager_handles: OrderedDict[str, EagerHandle] = OrderedDict()
        #: This app's tasks by name (every task is also in horus.tasks.REGISTRY for the worker).
        self.tasks: dict[str, Task[Any, Any]] = {}

    def __repr__(self) -> str:
        return f"<Horus runner={self.runner_id!r}>"

    # -- settings ---------------------------------------------------------------------------
    @property
    def eager(self) -> bool:
        """Whether calls run in-process: the ``eager`` argument, else ``HORUS_EAGER``."""
        if self._eager is not None:
            return self._eager
        return os.environ.get("HORUS_EAGER", "").strip().lower() in _TRUE

    @property
    def client(self) -> RedisClient | Client:
        """The client submits and reads go through, made on first use."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
                client = self._client
        return client

    def _connect(self) -> RedisClient | Client:
        key = self._signing_key()
        self._signer = Signer(key) if key is not None else None
        url = self._supervisor or (None if self._redis_url else setting("supervisor_url"))
        if url:
            return Client(str(url), token=setting("token", self._token), key=key)
        namespace = str(setting("namespace", self._namespace, DEFAULT_NAMESPACE))
        return RedisClient(redis_url(self._redis_url), namespace, key=key)

    def _signing_key(self) -> SigningKey | None:
        if isinstance(self._key, SigningKey):
            return self._key
        location = setting("key_file", os.fspath(self._key) if self._key is not None else None)
        return load_key(str(location)) if location else None

    # -- tasks ------------------------------------------------------------------------------
    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        bind: Literal[False] = False,
        runner: str | None = None,
        timeout: int | None = None,
        retries: int | None = None,
        retry_backoff_s: float | None = None,
        retry_backoff_max_s: float | None = None,
        priority: int | None = None,
        env_vars: dict[str, str] | None = None,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        bind: Literal[True],
        runner: str | None = None,
        timeout: int | None = None,
        retries: int | None = None,
        retry_backoff_s: float | None = None,
        retry_backoff_max_s: float | None = None,
        priority: int | None = None,
        env_vars: dict[str, str] | None = None,
    ) -> Callable[[Callable[Concatenate[Any, P], R]], Task[P, R]]: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        bind: bool = False,
        runner: str | None = None,
        timeout: int | None = None,
        retries: int | None = None,
        retry_backoff_s: float | None = None,
        retry_backoff_max_s: float | None = None,
        priority: int | None = None,
        env_vars: dict[str, str] | None = None,
    ) -> Any:
        """Register a function as a task of this app. ``name`` defaults to its qualified name;
        ``bind=True`` passes the job's :class:`horus.TaskContext` as its first argument. The
        options (``timeout``, ``retries``, ``retry_backoff_s``, ``retry_backoff_max_s``,
        ``priority``, ``env_vars``) are every call's defaults, checked here."""
        if runner is not None:
            _checked_runner(runner)
        given = _given(
            timeout=timeout,
            retries=retries,
            retry_backoff_s=retry_backoff_s,
            retry_backoff_max_s=retry_backoff_max_s,
            priority=priority,
            env_vars=env_vars,
        )
        defaults = _checked_options(given, runner or self.runner_id)

        def decorate(func: Callable[..., Any]) -> Task[Any, Any]:
            spec = register(TaskSpec.of(func, name, bind))
            made: Task[Any, Any] = Task(self, spec, runner, defaults)
            self.tasks[spec.name] = made
            return made

        return decorate(fn) if fn is not None else decorate

    # -- submitting -------------------------------------------------------------------------
    def send_task(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        countdown: float | None = None,
        eta: datetime | float | None = None,
        job_id: str | None = None,
        runner: str | None = None,
        **options: Any,
    ) -> Handle:
        """Call a task by name, without importing its function (the worker must know it);
        the options as for :meth:`Task.apply_async`."""
        fields = _checked_options(_given(**options), runner or self.runner_id)
        payload = encode_call(name, args, kwargs or {})
        job = _job(name, runner or self.runner_id, payload, fields, _not_before(countdown, eta), job_id)
        return self.submit(job)

    def submit(self, job: Job, spec: TaskSpec | None = None) -> Handle:
        """Sign and queue a job this app's code built (eager mode: run it here)."""
        if self.eager:
            return self._run_eager(job, spec)
        client = self.client
        signer = self._signer
        if signer is None:
            raise ConfigError(
                "no signing key: give Horus(key=PATH or SigningKey), or set HORUS_KEY_FILE or key_file in horus.toml"
            )
        with tracing.submit_span() as span:
            signed = prepare(tracing.stamp(job, span, owned=True), signer, owned=True)
            if isinstance(client, RedisClient):
                client.broker.enqueue(admit(signed, max_age_s=client.max_age_s))
            else:
                client.call("job.create", job=wire(signed))
        return Handle(self, job.id, job.runner_id)

    def _run_eager(self, job: Job, spec: TaskSpec | None) -> EagerHandle:
        handle = EagerHandle(self, eager_mode.run(job, spec))
        self._eager_handles[handle.id] = handle
        if len(self._eager_handles) > EAGER_KEPT:
            self._eager_handles.popitem(last=False)
        return handle

    def handle(self, job_id: str) -> Handle:
        """A handle for a job submitted elsewhere (by id)."""
        if job_id in self._eager_handles:
            return self._eager_handles[job_id]
        return Handle(self, job_id)

    async def wait_async(self, job_id: str, timeout_s: float | None = None) -> JobResult:
        """Wait for a job's result on an asyncio connection (Redis or the supervisor)."""
        client = self.client
        if isinstance(client, RedisClient):
            if client.broker.cluster:
                # The asyncio connection knows no cluster yet: the blocking wait, off the loop.
                return await asyncio.to_thread(client.broker.wait, job_id, timeout_s)
            return await wait_redis(client.broker.target, client.broker.keys, job_id, timeout_s)
        from horus.rpc_async import AsyncRpc

        return await wait_supervisor(AsyncRpc(client.url, client.token), job_id, timeout_s)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Horus:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Task(Generic[P, R]):
    """A function registered on an app: call it for a plain local call, ``delay()`` to run it
    on a worker."""

    def __init__(self, app: Horus, spec: TaskSpec, runner: str | None, defaults: dict[str, Any]) -> None:
        functools.update_wrapper(self, spec.fn)
        self.app = app
        self.spec = spec
        self._runner = runner
        self._defaults = defaults

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"<Task {self.spec.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here and now, as a plain call (a bound task gets the current job's
        context: a detached one outside a job)."""
        if self.spec.bind:
            return self.spec.fn(current_job(), *args, **kwargs)  # type: ignore[no-any-return]
        return self.spec.fn(*args, **kwargs)  # type: ignore[no-any-return]

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Handle:
        """Sign and submit a call with the task's default options; returns its handle at once."""
        payload = encode_call(self.spec.name, args, kwargs)
        runner = self._runner or self.app.runner_id
        return self.app.submit(_job(self.spec.name, runner, payload, self._defaults), self.spec)

    def apply_async(
        self,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        countdown: float | None = None,
        eta: datetime | float | None = None,
        priority: int | None = None,
        retries: int | None = None,
        retry_backoff_s: float | None = None,
        retry_backoff_max_s: float | None = None,
        timeout: int | None = None,
        job_id: str | None = None,
        runner: str | None = None,
        env_vars: dict[str, str] | None = None,
    ) -> Handle:
        """Submit a call with options: ``countdown`` seconds from now or at ``eta`` (a datetime,
        naive ones in local time, or Unix seconds), and any task option for this call only."""
        payload = encode_call(self.spec.name, args, kwargs or {})
        options = _given(
            priority=priority,
            retries=retries,
            retry_backoff_s=retry_backoff_s,
            retry_backoff_max_s=retry_backoff_max_s,
            timeout=timeout,
            env_vars=env_vars,
        )
        job = _job(
            self.spec.name,
            runner or self._runner or self.app.runner_id,
            payload,
            {**self._defaults, **options},
            not_before=_not_before(countdown, eta),
            job_id=job_id,
        )
        return self.app.submit(job, self.spec)


def _given(**options: Any) -> dict[str, Any]:
    """The options given (not None)."""
    return {name: value for name, value in options.items() if value is not None}


def _checked_runner(runner_id: str) -> str:
    try:
        return check_id(runner_id)
    except ValueError as exc:
        raise ConfigError(f"runner id {exc}") from None


def _checked_options(options: dict[str, Any], runner: str | None) -> dict[str, Any]:
    unknown = sorted(set(options) - set(OPTION_FIELDS))
    if unknown:
        raise TypeError(f"unknown task option(s) {', '.join(unknown)}; known: {', '.join(OPTION_FIELDS)}")
    try:
        Job(runner_id=runner or "probe", payload="probe", **options)
    except ValidationError as exc:
        raise rejection(exc) from None
    return options


def _job(
    name: str,
    runner: str | None,
    payload: str,
    options: dict[str, Any],
    not_before: float | None = None,
    job_id: str | None = None,
) -> Job:
    if runner is None:
        raise ConfigError(f"task {name!r} has no runner: give the app one (Horus('runner1')) or the task (runner=...)")
    fields: dict[str, Any] = {"runner_id": runner, "payload": payload, **options}
    if not_before is not None:
        fields["not_before"] = not_before
    if job_id is not None:
        fields["id"] = job_id
    try:
        return Job(**fields)
    except ValidationError as exc:
        raise rejection(exc) from None


def _not_before(countdown: float | None, eta: datetime | float | None) -> float | None:
    if countdown is not None and eta is not None:
        raise ValueError("give countdown= or eta=, not both")
    if countdown is not None:
        if isinstance(countdown, bool) or not isinstance(countdown, int | float):
            raise TypeError(f"countdown must be a number of seconds (got {countdown!r})")
        return time.time() + max(float(countdown), 0.0)
    if eta is None:
        return None
    if isinstance(eta, datetime):
        return eta.timestamp()
    if isinstance(eta, bool) or not isinstance(eta, int | float):
        raise TypeError(f"eta must be a datetime or Unix seconds (got {eta!r})")
    return float(eta)
