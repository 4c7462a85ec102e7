"""A Redis Cluster master killed under load: the jobs of the runners it did not serve all run;
of its own runner's acknowledged jobs, those its replica had run, the rest are counted lost
(replication is asynchronous, docs/scaling.md), none with the durability option (every
submission and result waits for a replica); workers and clients go on with the promoted
replica, and every job queued after runs."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from horus.client import RedisClient
from horus.errors import ConnectionFailed, JobNotFound, JobRejected, NotReplicated, WaitTimeout
from horus.keys import Keys
from horus.models import JobStatus
from horus.redis_url import ClusterTarget, parse_target
from horus.resp_cluster import ClusterConnection
from tests.conftest import StartWorker
from tests.integration.redis_groups import redis_group
from tests.integration.test_cluster_runtime import add_job, runners_on_every_master

pytestmark = pytest.mark.slow

WAIT_S = 120.0


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[tuple[ClusterTarget, Path]]:
    """A cluster of the test's own, one of whose masters it kills."""
    with redis_group("cluster", tmp_path) as url:
        target = parse_target(url)
        assert isinstance(target, ClusterTarget)
        yield target, tmp_path


def send(client: RedisClient, job: dict[str, str], deadline: float) -> tuple[str | None, int]:
    """Queue a signed job, sending the same signed job again after a lost connection (a
    ``replayed_id`` then means the first send was stored): its id (None when the master took it
    but too few replicas confirmed it: not acknowledged) and the sends lost."""
    signed, lost = client.build(job), 0
    while True:
        try:
            return client.broker.enqueue(signed), lost
        except NotReplicated:
            return None, lost
        except ConnectionFailed:
            assert time.monotonic() < deadline, "no master took the job"
            lost += 1
            time.sleep(0.05)  # the cluster has not promoted a replica yet
        except JobRejected as exc:
            if exc.code != "replayed_id":
                raise
            return signed.id, lost


def master_port(client: RedisClient, key: str) -> int:
    conn = client.broker.conn
    assert isinstance(conn, ClusterConnection)
    return conn.slots.master_for_key(key).port


def outcome(client: RedisClient, job_ids: list[str]) -> dict[str, int]:
    counts = {"completed": 0, "lost": 0, "unfinished": 0, "other": 0}
    for job_id in job_ids:
        while True:
            try:
                result = client.wait(job_id, WAIT_S / 4)
                counts["completed" if result.status is JobStatus.COMPLETED else "other"] += 1
            except JobNotFound:
                counts["lost"] += 1
            except WaitTimeout:
                counts["unfinished"] += 1
            except ConnectionFailed:
                continue
            break
    return counts


ROUNDS_BEFORE, ROUNDS_AFTER = 500, 300


@pytest.mark.timeout(600)
@pytest.mark.parametrize("replicas", [0, 1], ids=["async replication", "wait for a replica"])
def test_a_master_killed_under_load(
    own_cluster: tuple[ClusterTarget, Path],
    start_worker: StartWorker,
    key: SigningKey,
    namespace: str,
    replicas: int,
) -> None:
    target, directory = own_cluster
    url = str(target)
    runners = runners_on_every_master(target, namespace)
    durable = ("--wait-replicas", "1", "--wait-timeout-ms", "500") if replicas else ()
    workers = [start_worker(runner, *durable, url=url) for runner in runners]
    victim, queue = runners[0], Keys(namespace).queue(runners[0])
    acked: dict[str, list[str]] = {r: [] for r in runners}
    after: list[str] = []
    resent = unconfirmed = 0
    deadline = time.monotonic() + WAIT_S
    with RedisClient(url, namespace, key=key, wait_replicas=replicas) as client:

        def queue_round(n: int, into: dict[str, list[str]] | None) -> None:
            nonlocal resent, unconfirmed
            for runner in runners:
                job_id, lost = send(client, add_job(runner, n), deadline)
                resent += lost
                if job_id is None:
                    unconfirmed += 1
                elif into is None:
                    after.append(job_id)
                else:
                    into[runner].append(job_id)

        for n in range(ROUNDS_BEFORE):
            queue_round(n, acked)
        old = master_port(client, queue)
        index = [seed.port for seed in target.seeds].index(old)
        node = directory / "cluster" / f"node{index}"
        os.kill(int((node / "pid").read_text()), signal.SIGKILL)
        killed = time.monotonic()
        n = ROUNDS_BEFORE
        while master_port(client, queue) == old:  # until a send to the victim met the new map
            queue_round(n, acked)
            n += 1
        moved_s = time.monotonic() - killed
        if replicas:
            # The promoted replica has no replica of its own until the old master comes back
            # as one: until then every write to it is reported unconfirmed.
            subprocess.run(["redis-server", str(node / "redis.conf")], check=True, capture_output=True)
        for m in range(ROUNDS_AFTER):
            queue_round(n + m, None)
        results = {runner: outcome(client, ids) for runner, ids in acked.items()}
        later = outcome(client, after)
    print(
        f"master killed ({'wait for a replica' if replicas else 'async replication'}): "
        f"{ {r: len(i) for r, i in acked.items()} } acknowledged before the move ({moved_s:.1f} s, "
        f"{resent} sends met the dead master and were sent again, {unconfirmed} unconfirmed): {results}; "
        f"after: {later}"
    )
    if results[victim]["unfinished"] or later["unfinished"]:
        print(workers[0].log()[-6000:])
    for runner in runners[1:]:
        assert results[runner] == {"completed": len(acked[runner]), "lost": 0, "unfinished": 0, "other": 0}
    assert results[victim]["completed"] + results[victim]["lost"] == len(acked[victim]), results[victim]
    if replicas:
        assert results[victim]["lost"] == 0, results[victim]
    assert later["completed"] == len(after) and later["lost"] == later["unfinished"] == 0, later
