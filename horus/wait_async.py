"""Waiting for a job's result from asyncio code: Redis wakes the wait, the event loop runs on.

The same steps as :meth:`horus.broker.Broker.wait`, every command sent on an asyncio
connection (:mod:`horus.resp_async`), so a coroutine waiting blocks neither its loop nor a
thread. Through a supervisor, the same wait is ``job.result`` with ``wait_s`` over
:mod:`horus.rpc_async`.
"""

from __future__ import annotations

import time

from horus.broker import DELETED, result_from_hash
from horus.connect import Connectable, connect_async, refuse_cluster
from horus.errors import JobNotFound, WaitTimeout
from horus.keys import Keys
from horus.models import TERMINAL, JobResult
from horus.resp_async import AsyncConnection
from horus.rpc_async import AsyncRpc

#: The longest one blocking step: a job whose records expired meanwhile is noticed by then.
STEP_S = 30.0
#: Beyond a step's own length, how long its reply may take to come.
SLACK_S = 10.0


async def wait_redis(target: Connectable, keys: Keys, job_id: str, timeout_s: float | None) -> JobResult:
    """The job's result once it ends; WaitTimeout naming the time waited when ``timeout_s`` passes."""
    conn = await connect_async(refuse_cluster(target, "waiting from asyncio"))
    try:
        return await _wait(conn, keys, job_id, timeout_s)
    finally:
        await conn.aclose()


async def _wait(conn: AsyncConnection, keys: Keys, job_id: str, timeout_s: float | None) -> JobResult:
    started = time.monotonic()
    runner_id = await conn.call("GET", keys.job_index(job_id), timeout_s=SLACK_S)
    if runner_id is None or runner_id == DELETED:
        raise JobNotFound(job_id)
    notice, record = keys.result(runner_id, job_id), keys.job(runner_id, job_id)
    deadline = None if timeout_s is None else started + timeout_s
    while True:
        left = STEP_S if deadline is None else max(deadline - time.monotonic(), 0.001)
        block = min(left, STEP_S)
        reply = await conn.call("BLMOVE", notice, notice, "LEFT", "RIGHT", block, timeout_s=block + SLACK_S)
        if reply is not None:
            return JobResult.model_validate_json(reply)
        flat = await conn.call("HGETALL", record, timeout_s=SLACK_S)
        if not flat:
            raise JobNotFound(job_id)
        data = dict(zip(flat[::2], flat[1::2], strict=True))
        if data.get("status") in TERMINAL:  # ended, but its result list expired first
            stored = await conn.call("LINDEX", notice, 0, timeout_s=SLACK_S)
            return result_from_hash(job_id, runner_id, data, stored)
        if deadline is not None and time.monotonic() >= deadline:
            waited = time.monotonic() - started
            raise WaitTimeout(f"job {job_id} still {data.get('status', 'pending')} after {waited:.1f} s")


async def wait_supervisor(rpc: AsyncRpc, job_id: str, timeout_s: float | None) -> JobResult:
    """The same wait through the supervisor: ``job.result`` calls, each woken when the job ends."""
    started = time.monotonic()
    deadline = None if timeout_s is None else started + timeout_s
    while True:
        left = 60.0 if deadline is None else max(deadline - time.monotonic(), 0.001)
        step = min(left, 60.0)
        outcome = JobResult.model_validate(
            await rpc.call("job.result", timeout_s=step + SLACK_S, job_id=job_id, wait_s=step)
        )
        if outcome.status in TERMINAL:
            return outcome
        if deadline is not None and time.monotonic() >= deadline:
            waited = time.monotonic() - started
            raise WaitTimeout(f"job {job_id} still {outcome.status.value} after {waited:.1f} s")
