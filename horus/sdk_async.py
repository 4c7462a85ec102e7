"""``horus.AsyncClient``: :class:`horus.Client` for asyncio code.

Each call runs the sync client's call in a worker thread (the sync client keeps one HTTP
connection per thread), so an event loop is never blocked and many waits can run at once.
Waits are woken by the server, so a thread blocked in one costs nothing but the thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from nacl.signing import SigningKey

from horus.models import Job, JobResult
from horus.sdk import Client

JobInput = Job | dict[str, Any] | str | bytes


class AsyncClient:
    def __init__(
        self, url: str, token: str | None = None, key: SigningKey | None = None, timeout_s: float = 30.0
    ) -> None:
        self.sync = Client(url, token=token, key=key, timeout_s=timeout_s)

    async def call(self, method: str, timeout_s: float | None = None, **params: Any) -> Any:
        return await asyncio.to_thread(self.sync.call, method, timeout_s, **params)

    async def submit(self, job: JobInput) -> str:
        return await asyncio.to_thread(self.sync.submit, job)

    async def run(self, job: JobInput, wait_s: float | None = None) -> JobResult:
        return await asyncio.to_thread(self.sync.run, job, wait_s)

    async def wait(self, job_id: str, timeout_s: float | None = None) -> JobResult:
        return await asyncio.to_thread(self.sync.wait, job_id, timeout_s)

    async def result(self, job_id: str, wait_s: float | None = None) -> JobResult:
        return await asyncio.to_thread(self.sync.result, job_id, wait_s)

    async def status(self, job_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.sync.status, job_id)

    async def logs(self, job_id: str, follow: bool = False) -> AsyncIterator[str]:
        lines = await asyncio.to_thread(self.sync.logs, job_id, follow)
        done = object()
        while True:
            line = await asyncio.to_thread(next, lines, done)
            if line is done:
                return
            yield str(line)

    async def cancel(self, job_id: str) -> str:
        return await asyncio.to_thread(self.sync.cancel, job_id)

    async def delete(self, job_id: str) -> None:
        await asyncio.to_thread(self.sync.delete, job_id)

    async def jobs(self, runner_id: str | None = None, status: str | None = None, limit: int = 100) -> dict[str, Any]:
        return await asyncio.to_thread(self.sync.jobs, runner_id, status, limit)

    async def runners(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.sync.runners)

    async def runner_health(self, runner_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.sync.runner_health, runner_id)

    async def close(self) -> None:
        # Connections live in the executor's threads; each closes with its thread or on reuse.
        self.sync.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
