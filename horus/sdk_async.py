"""``horus.AsyncClient``: :class:`horus.Client` for asyncio code.

Every call goes over asyncio streams (:mod:`horus.rpc_async`): no thread is used and the
event loop is never blocked, so many waits can run at once, each woken by the server when
its job ends. Signing is done in place, before the call, as the sync client does it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from nacl.signing import SigningKey

from horus.admission import parse_job, prepare
from horus.models import Job, JobResult
from horus.rpc_async import AsyncRpc
from horus.sdk import TAIL_WAIT_S
from horus.signing import Signer
from horus.wait_async import SLACK_S, wait_supervisor

JobInput = Job | dict[str, Any] | str | bytes


class AsyncClient:
    def __init__(
        self, url: str, token: str | None = None, key: SigningKey | None = None, timeout_s: float = 30.0
    ) -> None:
        self.rpc = AsyncRpc(url, token)
        self.url = url
        self.token = token
        self.signer = Signer(key) if key is not None else None
        self.timeout_s = timeout_s

    async def call(self, method: str, timeout_s: float | None = None, **params: Any) -> Any:
        return await self.rpc.call(method, timeout_s or self.timeout_s, **params)

    def build(self, job: JobInput) -> Job:
        """Parse and sign with the client's key when needed (the supervisor checks the rest)."""
        owned = not isinstance(job, Job)
        parsed = job if isinstance(job, Job) else parse_job(job)
        return prepare(parsed, self.signer, owned)

    async def submit(self, job: JobInput) -> str:
        return str(await self.call("job.create", job=self.build(job).model_dump(exclude={"status"})))

    async def run(self, job: JobInput, wait_s: float | None = None) -> JobResult:
        params: dict[str, Any] = {"job": self.build(job).model_dump(exclude={"status"})}
        if wait_s is not None:
            params["wait_s"] = wait_s
        timeout = (wait_s or self.timeout_s) + SLACK_S
        return JobResult.model_validate(await self.call("job.run", timeout_s=timeout, **params))

    async def wait(self, job_id: str, timeout_s: float | None = None) -> JobResult:
        """Until the job ends (the server wakes the call); WaitTimeout naming the time waited."""
        return await wait_supervisor(self.rpc, job_id, timeout_s)

    async def result(self, job_id: str, wait_s: float | None = None) -> JobResult:
        if wait_s is None:
            return JobResult.model_validate(await self.call("job.result", job_id=job_id))
        raw = await self.call("job.result", timeout_s=wait_s + SLACK_S, job_id=job_id, wait_s=wait_s)
        return JobResult.model_validate(raw)

    async def status(self, job_id: str) -> dict[str, Any]:
        return dict(await self.call("job.status", job_id=job_id))

    async def logs(self, job_id: str, follow: bool = False) -> AsyncIterator[str]:
        """Output lines so far; with ``follow``, keep yielding as they come until the job ends."""
        if not follow:
            for line in await self.call("job.logs", job_id=job_id):
                yield str(line)
            return
        cursor = "0-0"
        while True:
            page = await self.call(
                "job.tail", timeout_s=TAIL_WAIT_S + SLACK_S, job_id=job_id, cursor=cursor, wait_s=TAIL_WAIT_S
            )
            for line in page["lines"]:
                yield str(line)
            cursor = str(page["cursor"])
            if page["ended"]:
                return

    async def cancel(self, job_id: str) -> str:
        return str((await self.call("job.cancel", job_id=job_id))["status"])

    async def delete(self, job_id: str) -> None:
        await self.call("job.delete", job_id=job_id)

    async def jobs(self, runner_id: str | None = None, status: str | None = None, limit: int = 100) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if runner_id:
            params["runner_id"] = runner_id
        if status:
            params["status"] = status
        return dict(await self.call("job.list", **params))

    async def runners(self) -> list[dict[str, Any]]:
        return list(await self.call("runner.list"))

    async def runner_health(self, runner_id: str) -> dict[str, Any]:
        return dict(await self.call("runner.health", runner_id=runner_id))

    async def close(self) -> None:
        """Nothing to close: each call has its own connection."""

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
