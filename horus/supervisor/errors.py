"""JSON-RPC errors of the supervisor: one stable numeric code per reason (docs/api.md)."""

from __future__ import annotations

from typing import Any, ClassVar

from horus.errors import HorusError

# JSON-RPC 2.0's own codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

#: Every reason the supervisor can give, with its code and a short description. The numbers
#: are part of the API: clients switch on them, so a code is never reused for another reason.
CODES: dict[str, tuple[int, str]] = {
    "parse_error": (PARSE_ERROR, "the body is not valid JSON"),
    "invalid_request": (INVALID_REQUEST, "not a JSON-RPC 2.0 request object (or an empty batch)"),
    "method_not_found": (METHOD_NOT_FOUND, "no such method"),
    "invalid_params": (INVALID_PARAMS, "params do not match the method's schema"),
    "internal": (INTERNAL_ERROR, "unexpected server error (details in the server log)"),
    "unauthenticated": (-32001, "no bearer token, or an unknown one"),
    "forbidden": (-32002, "the token's role may not call this method"),
    "request_too_large": (-32003, "the request body exceeds the size limit"),
    "unavailable": (-32004, "Redis could not be reached"),
    "busy": (-32005, "the server has as many waiting calls as it allows: retry later"),
    "batch_too_large": (-32006, "the batch has more calls than the server allows per request"),
    "response_too_large": (-32007, "the response passed the server's size limit (data.ran: whether the call ran)"),
    "not_replicated": (
        -32008,
        "written, but fewer Redis replicas than the server waits for confirmed it in time "
        "(data.acknowledged, data.wanted): check the job's status",
    ),
    # Job admission: the codes of horus.errors.JobRejected (docs/protocol.md), plus unknown_runner.
    "invalid_json": (-32100, "the job is not valid JSON"),
    "missing_field": (-32101, "a required job field is absent"),
    "unknown_field": (-32102, "a field the job format does not have"),
    "invalid_field": (-32103, "a job field has the wrong type or characters"),
    "empty_payload": (-32104, "the payload is empty or blank"),
    "timeout_out_of_bounds": (-32105, "timeout outside 1-86400 s"),
    "unsigned": (-32106, "the job has no signature"),
    "bad_signature": (-32107, "a signature is malformed or uses an unknown algorithm"),
    "tampered": (-32108, "a signature does not verify: content changed after signing"),
    "untrusted_key": (-32109, "the supervisor's key registry does not trust the signing key"),
    "key_not_allowed": (-32110, "the key is trusted, but not for this runner"),
    "threshold": (-32111, "too few valid signatures"),
    "replayed_id": (-32112, "the job id was submitted before"),
    "stale": (-32113, "created_at outside the freshness window"),
    "unknown_runner": (-32114, "the job's runner is not registered with the supervisor"),
    # Lookups and registry management.
    "job_not_found": (-32200, "no job with that id (never submitted, or expired)"),
    "runner_not_found": (-32201, "no runner registered with that id"),
    "key_not_found": (-32202, "no such key in the registry"),
    "invalid_key": (-32203, "not a 32-byte ed25519 public key in hex"),
    "runner_type_conflict": (-32204, "the runner is registered with another type"),
    "token_not_found": (-32205, "no token with that name"),
    "job_active": (-32206, "the job is still queued or running: cancel it first"),
    "not_dead_lettered": (-32207, "a job to retry is not in the runner's dead-letter list (data.job_id, data.why)"),
    "schedule_not_found": (-32208, "no schedule of that name is stored"),
    "schedule_exists": (-32209, "a schedule of that name is stored already (data.name); replace: true replaces it"),
}


class RpcError(HorusError):
    """An error answered to the caller as a JSON-RPC error object.

    ``codes`` is the API's table of reasons; another service built on this machinery (the
    coordinator) subclasses with a table that extends this one.
    """

    codes: ClassVar[dict[str, tuple[int, str]]] = CODES

    def __init__(self, reason: str, message: str, field: str = "", extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = self.codes[reason][0]
        self.message = message
        self.field = field
        self.extra = extra or {}

    def as_error(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "data": {"reason": self.reason, "field": self.field, **self.extra},
        }
