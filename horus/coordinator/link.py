"""The coordinator's calls to the supervisor: signed step jobs in JSON-RPC batches, and cancels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from horus.errors import ConnectionFailed
from horus.sdk import Client
from horus.supervisor.rpc import MAX_BATCH

#: A batch stays well under the supervisor's 1 MiB request limit, and within its calls per batch.
MAX_BATCH_BYTES = 512 * 1024
MAX_BATCH_CALLS = MAX_BATCH


@dataclass(frozen=True)
class Answer:
    result: Any = None
    reason: str = ""  # the error's data.reason; empty on success
    message: str = ""


class SupervisorLink(Client):
    """:class:`horus.Client` plus batches: one HTTP request for many job.create calls."""

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Answer]:
        answers: list[Answer] = []
        chunk: list[bytes] = []
        size = 0
        for method, params in calls:
            body = orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": len(answers) + len(chunk)})
            if chunk and (size + len(body) > MAX_BATCH_BYTES or len(chunk) == MAX_BATCH_CALLS):
                answers += self._send(chunk)
                chunk, size = [], 0
            chunk.append(body)
            size += len(body) + 1
        if chunk:
            answers += self._send(chunk)
        return answers

    def _send(self, bodies: list[bytes]) -> list[Answer]:
        raw = self._post(b"[" + b",".join(bodies) + b"]", self.timeout_s)
        try:
            replies = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ConnectionFailed(f"the supervisor at {self.url} did not answer with JSON") from None
        if not isinstance(replies, list):  # a whole-request error: authentication, size
            error = replies.get("error", {}) if isinstance(replies, dict) else {}
            answer = Answer(reason=str(error.get("data", {}).get("reason", "internal")), message=str(error))
            return [answer] * len(bodies)
        by_id = {reply.get("id"): reply for reply in replies}
        first = orjson.loads(bodies[0])["id"]
        out = []
        for request_id in range(first, first + len(bodies)):
            reply = by_id.get(request_id, {})
            error = reply.get("error")
            if error is None:
                out.append(Answer(result=reply.get("result")))
            else:
                data = error.get("data") or {}
                out.append(Answer(reason=str(data.get("reason", "internal")), message=str(error.get("message", ""))))
        return out
