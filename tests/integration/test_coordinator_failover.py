"""A workflow that goes on through a Sentinel failover: the coordinator, the supervisor and the
workers follow the master the sentinels name, and every step runs. Runs under
``--redis-kind sentinel`` only (``make test`` runs it so); the session's group is failed over."""

# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import time

import pytest
import redis

from horus.coordinator import chain, step
from horus.redis_url import SentinelTarget, parse_target
from tests.integration.coordinator_fixtures import WAIT, Stack, serve, stack  # noqa: F401


def nap(step_id: str) -> object:
    return step(step_id, "wf", {"task": "sleep", "args": [0.3]})


def test_a_workflow_goes_on_through_a_sentinel_failover(stack: Stack, redis_url: str) -> None:
    target = parse_target(redis_url)
    if not isinstance(target, SentinelTarget):
        pytest.skip("fails over a Sentinel group: run with --redis-kind sentinel")
    stack.start_worker()
    stack.start_coordinator()
    flow = chain(*(nap(f"s{n}") for n in range(8)))
    with stack.client() as client:
        workflow_id = client.submit(flow, name="through a failover")
        deadline = time.monotonic() + WAIT
        while not any(s.status == "completed" for s in client.status(workflow_id).steps):
            assert time.monotonic() < deadline, "the first step did not end"
            time.sleep(0.05)  # the coordinator's RPC gives no event for a step's end
        sentinel = target.sentinels[0]
        with redis.Redis(host=sentinel.host, port=sentinel.port) as s:
            before = s.execute_command("SENTINEL", "get-master-addr-by-name", target.master_name)
            s.execute_command("SENTINEL", "FAILOVER", target.master_name)
        outcome = client.wait(workflow_id, WAIT)
        with redis.Redis(host=sentinel.host, port=sentinel.port) as s:
            after = s.execute_command("SENTINEL", "get-master-addr-by-name", target.master_name)
    assert after != before, "the sentinels did not move the master"
    assert outcome.status == "completed", outcome
    assert sorted(outcome.steps) == [f"s{n}" for n in range(8)]
