"""The runner's own check of a stored job, without pydantic on the hot path.

Every field the engine relies on is type-checked here and the signature is always verified;
the :class:`Job` handed to the plugin is then built without a second validation pass.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import ValidationError

from horus.admission import rejection
from horus.errors import JobRejected
from horus.firing import verify_firing
from horus.models import (
    CONTENT_FIELDS,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
    OPTION_DEFAULTS,
    SIGNED_DEFAULTS,
    Job,
    JobStatus,
    Signature,
    assemble,
    check_traceparent,
)
from horus.retry import active_span_s
from horus.signing import canonical_bytes
from horus.trust import DEFAULT_MAX_SKEW_S, TrustPolicy, check_created_at

_STRINGS = ("payload", "caller_id", "context_id", "executor")


def _content(data: dict[str, Any], job_id: str, runner_id: str) -> dict[str, Any]:
    content = {name: data.get(name, SIGNED_DEFAULTS.get(name)) for name in CONTENT_FIELDS}
    if content["id"] != job_id:
        raise JobRejected("invalid_field", "id", f"stored job has id {content['id']!r}, queued as {job_id!r}")
    if content["runner_id"] != runner_id:
        raise JobRejected("invalid_field", "runner_id", f"job is for runner {content['runner_id']!r}")
    for name in _STRINGS:
        if not isinstance(content[name], str):
            raise JobRejected("invalid_field", name, "must be a string")
    if not str(content["payload"]).strip():
        raise JobRejected("empty_payload", "payload", "is empty: there must be something to run")
    timeout = content["timeout"]
    if type(timeout) is not int or not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S:
        raise JobRejected(
            "timeout_out_of_bounds", "timeout", f"must be an integer from {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S}"
        )
    if type(content["created_at"]) is not int:
        raise JobRejected("invalid_field", "created_at", "must be an integer (Unix seconds)")
    env = content["env_vars"]
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise JobRejected("invalid_field", "env_vars", "must map names to strings")
    return content


def _options(data: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    """Every option, checked by the model's own rules (only a job that sets one pays for it);
    those not at their default join ``content`` as the signer's canonical form writes them
    (``60.0`` as ``60``)."""
    given = {name: data[name] for name in OPTION_DEFAULTS if name in data}
    if not given:
        return OPTION_DEFAULTS  # read only: the job gets copies of its values
    if len(given) == 1 and "traceparent" in given:  # a traced job without options: one regex, not pydantic
        return _traceparent_only(given["traceparent"], content)
    try:
        checked = Job.model_validate({"runner_id": "x", "payload": "x", **given})
    except ValidationError as exc:
        raise rejection(exc) from None
    options = {name: getattr(checked, name) for name in OPTION_DEFAULTS}
    for name, default in OPTION_DEFAULTS.items():
        if options[name] != default:
            content[name] = options[name]
    return options


def _traceparent_only(value: Any, content: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return OPTION_DEFAULTS
    try:
        check_traceparent(value)
    except ValueError as exc:
        raise JobRejected("invalid_field", "traceparent", str(exc)) from None
    content["traceparent"] = value
    return {**OPTION_DEFAULTS, "traceparent": value}


def _signatures(data: dict[str, Any]) -> list[Signature]:
    raw = data.get("signatures") or []
    fields = ("public_key", "signature", "algorithm")
    if not isinstance(raw, list) or not all(
        isinstance(s, dict) and all(isinstance(s.get(f, "ed25519"), str) for f in fields) for s in raw
    ):
        raise JobRejected("bad_signature", "signatures", "must be a list of {public_key, signature, algorithm}")
    return [
        Signature.model_construct(
            public_key=s.get("public_key", ""),
            signature=s.get("signature", ""),
            algorithm=s.get("algorithm", "ed25519"),
        )
        for s in raw
    ]


def load_verified(
    job_json: str,
    job_id: str,
    runner_id: str,
    policy: TrustPolicy,
    max_age_s: int,
    max_skew_s: int = DEFAULT_MAX_SKEW_S,
) -> Job:
    """The job as stored, if it is well formed, meant for this queue entry and runner, recent
    enough (and not dated ahead past the clock skew allowed), and signed by enough keys this
    runner trusts; :class:`JobRejected` otherwise."""
    try:
        data = orjson.loads(job_json)
    except orjson.JSONDecodeError:
        raise JobRejected("invalid_json", "job", "stored job is not valid JSON") from None
    if not isinstance(data, dict):
        raise JobRejected("invalid_json", "job", "stored job is not a JSON object")
    content = _content(data, job_id, runner_id)
    options = _options(data, content)
    now = time.time()
    if options["not_before"] is None and not options["retries"]:
        check_created_at(content["created_at"], now, max_age_s, max_skew_s)
    else:
        check_options(content["created_at"], content["timeout"], options, now, max_age_s, max_skew_s)
    firing = data.get("firing")
    if firing is None:
        signatures = _signatures(data)
        policy.verify_message(canonical_bytes(content), signatures, runner_id)
    else:
        signatures = verify_firing(firing, content, policy, runner_id)
    return assemble(Job, {**content, **options, "signatures": signatures, "status": JobStatus.RUNNING, "firing": None})


def check_options(
    created_at: int, timeout: int, options: dict[str, Any], now: float, max_age_s: int, max_skew_s: int
) -> None:
    """Freshness of a job with a start time or retries: the window opens at ``not_before``
    (when it is later than ``created_at``) and lasts as much longer as its retries may take;
    and no job starts more than ``max_skew_s`` before its ``not_before``, whoever moved it."""
    not_before = options["not_before"]
    if not_before is not None and not_before - now > max_skew_s:
        raise JobRejected(
            "stale",
            "not_before",
            f"job is not due for {int(not_before - now)} s; at most {max_skew_s} s early is allowed",
        )
    waited = max(0.0, not_before - created_at) if not_before is not None else 0.0
    span = active_span_s({**options, "timeout": timeout})
    check_created_at(created_at, now, int(max_age_s + waited + span), max_skew_s)
