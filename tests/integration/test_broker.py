"""The transport's scripts against a real Redis, driven step by step as a worker would."""

from __future__ import annotations

import threading

import pytest
import redis
from nacl.signing import SigningKey

from horus.broker import Broker, progress_value
from horus.client import RedisClient
from horus.errors import JobNotFound, JobRejected, WaitTimeout
from horus.models import Job, JobResult, JobStatus
from horus.signing import sign_job

W = "host:1:2"
WAIT = 30


def job(key: SigningKey, runner: str = "r1", **fields: object) -> Job:
    return sign_job(Job(runner_id=runner, payload="x", **fields), key)  # type: ignore[arg-type]


def test_enqueue_stores_and_queues(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j = job(key)
    assert broker.enqueue(j) == j.id
    assert broker.queue_length("r1") == 1
    assert broker.result(j.id).status == JobStatus.DISPATCHED
    assert broker.job(j.id) == j


def test_replayed_id_is_refused_and_queues_nothing(broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    with pytest.raises(JobRejected) as info:
        broker.enqueue(j)
    assert (info.value.code, info.value.field) == ("replayed_id", "id")
    other_runner = job(key, runner="r2", id=j.id)
    with pytest.raises(JobRejected):
        broker.enqueue(other_runner)
    assert broker.queue_length("r1") == 1
    assert broker.queue_length("r2") == 0


def test_interrupted_cluster_submit_resumes(redis_url: str, key: SigningKey, r: redis.Redis) -> None:
    with Broker.from_url(redis_url, cluster=True) as broker:
        j = job(key)
        r.set(broker.keys.job_index(j.id), "r1")  # the client died between claiming the id and queueing
        assert broker.enqueue(j) == j.id
        assert broker.queue_length("r1") == 1


@pytest.mark.single_redis  # one script claims and queues: a cluster takes two steps
def test_a_claimed_id_is_refused_after_its_records_are_gone(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    """On a single Redis the claim and the queueing are one script: a claimed id was submitted."""
    j = job(key)
    broker.enqueue(j)
    r.delete(broker.keys.job("r1", j.id), broker.keys.spec("r1", j.id))  # as when its results expired
    with pytest.raises(JobRejected, match="already submitted"):
        broker.enqueue(j)
    assert broker.queue_length("r1") == 1


def test_reserve_start_finish(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j = job(key)
    broker.enqueue(j)
    assert broker.reserve("r1", W, 1) == j.id
    assert r.lrange(broker.keys.inflight("r1", W), 0, -1) == [j.id]
    (started,) = broker.start_many("r1", W, [j.id])
    assert started.verdict == "run"
    assert Job.model_validate_json(started.job_json) == j
    assert broker.result(j.id).status == JobStatus.RUNNING
    done = JobResult(job_id=j.id, status=JobStatus.COMPLETED, output="ok", value=[1], started_at=1.0, completed_at=2.0)
    assert broker.finish("r1", W, done)
    assert broker.result(j.id) == done
    assert broker.wait(j.id, 1) == done
    assert r.llen(broker.keys.inflight("r1", W)) == 0
    for key in (broker.keys.job("r1", j.id), broker.keys.spec("r1", j.id), broker.keys.result("r1", j.id)):
        assert 0 < r.ttl(key) <= broker.result_ttl_s


def test_reserve_started_takes_and_starts_a_job_in_one_call(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j = job(key)
    broker.enqueue(j)
    started = broker.reserve_started("r1", W, 1)
    assert started is not None
    assert (started.job_id, started.verdict, started.deliveries) == (j.id, "run", 1)
    assert Job.model_validate_json(started.job_json) == j
    assert r.hget(broker.keys.job("r1", j.id), "worker") == W
    assert r.lrange(broker.keys.inflight("r1", W), 0, -1) == [j.id]
    assert broker.reserve_started("r1", "idle-worker", 0.05) is None
    assert r.llen(broker.keys.inflight("r1", "idle-worker")) == 0


def test_reserve_started_with_other_ids_in_flight_starts_only_the_one_it_moved(
    broker: Broker, key: SigningKey, r: redis.Redis
) -> None:
    stale, fresh = job(key), job(key)
    broker.enqueue_many([stale, fresh])
    assert broker.reserve("r1", W, 1) == stale.id  # reserved but never started
    started = broker.reserve_started("r1", W, 1)
    assert started is not None and started.job_id == fresh.id
    assert r.hget(broker.keys.job("r1", stale.id), "status") == "dispatched"


def test_reserve_started_loads_missing_scripts(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j = job(key)
    broker.enqueue(j)
    r.script_flush()
    started = broker.reserve_started("r1", W, 1)
    assert started is not None and (started.job_id, started.verdict) == (j.id, "run")
    assert r.hget(broker.keys.job("r1", j.id), "deliveries") == "1"


def test_first_finisher_wins(broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    broker.reserve("r1", W, 1)
    broker.start_many("r1", W, [j.id])
    assert not broker.finish("r1", "someone-else", JobResult(job_id=j.id, status=JobStatus.FAILED))
    assert broker.finish("r1", W, JobResult(job_id=j.id, status=JobStatus.COMPLETED))
    assert not broker.finish("r1", W, JobResult(job_id=j.id, status=JobStatus.FAILED))
    assert broker.result(j.id).status == JobStatus.COMPLETED


def test_finished_job_redelivered_is_skipped(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j = job(key)
    broker.enqueue(j)
    broker.reserve("r1", W, 1)
    broker.start_many("r1", W, [j.id])
    broker.finish("r1", W, JobResult(job_id=j.id, status=JobStatus.COMPLETED))
    r.lpush(broker.keys.queue("r1"), j.id)  # a stray duplicate
    assert broker.reserve("r1", W, 1) == j.id
    assert broker.start_many("r1", W, [j.id])[0].verdict == "skip"
    assert r.llen(broker.keys.inflight("r1", W)) == 0


def test_dead_letter_after_max_deliveries(r: redis.Redis, redis_url: str, key: SigningKey) -> None:
    with Broker.from_url(redis_url, max_deliveries=2) as broker:
        dead_letter_after_two(broker, key)


def dead_letter_after_two(broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    for attempt in range(2):
        worker = f"h:1:{attempt}"
        assert broker.reserve("r1", worker, 1) == j.id
        assert broker.start_many("r1", worker, [j.id])[0].verdict == "run"
        assert broker.reap("r1", worker, force=True) == [j.id]  # the worker died
        assert broker.result(j.id).status == JobStatus.DISPATCHED
    broker.reserve("r1", "h:1:9", 1)
    (started,) = broker.start_many("r1", "h:1:9", [j.id])
    assert (started.verdict, started.deliveries) == ("dead", 3)
    assert broker.dead_letters("r1") == [j.id]


def test_reap_spares_live_workers(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    broker.enqueue(job(key))
    broker.heartbeat("r1", [W], 60_000)
    broker.reserve("r1", W, 1)
    assert broker.reap("r1", W) is None
    assert broker.queue_length("r1") == 0


def test_a_reaped_job_drops_the_lost_deliverys_progress(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j = job(key)
    broker.enqueue(j)
    broker.reserve("r1", W, 1)
    broker.start_many("r1", W, [j.id])
    broker.append_log("r1", j.id, [], progress_value(50, "half", 1), W)
    assert r.hget(broker.keys.job("r1", j.id), "progress") is not None
    assert broker.reap("r1", W, force=True) == [j.id]
    assert r.hget(broker.keys.job("r1", j.id), "status") == "dispatched"
    assert r.hget(broker.keys.job("r1", j.id), "progress") is None


def test_heartbeat_reports_expired_workers(broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    broker.heartbeat("r1", ["dead:1:1"], 1)
    broker.reserve("r1", "dead:1:1", 1)
    r_expired = broker.heartbeat("r1", ["live:1:1"], 60_000)
    while not r_expired:  # the 1 ms deadline passes within a call or two
        r_expired = broker.heartbeat("r1", ["live:1:1"], 60_000)
    assert r_expired == ["dead:1:1"]
    assert broker.reap("r1", "dead:1:1") == [j.id]
    assert broker.queue_length("r1") == 1


def test_cancel_queued(broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    assert broker.cancel(j.id) == "cancelled"
    assert broker.queue_length("r1") == 0
    assert broker.wait(j.id, 1).status == JobStatus.CANCELLED
    assert broker.cancel(j.id) == "cancelled"


def test_cancel_reserved_but_not_started(broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    broker.reserve("r1", W, 1)
    assert broker.cancel(j.id) == "cancelling"
    assert broker.start_many("r1", W, [j.id])[0].verdict == "cancelled"


def test_cancel_running_publishes(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    j = job(key)
    broker.enqueue(j)
    broker.reserve("r1", W, 1)
    broker.start_many("r1", W, [j.id])
    pubsub = r.pubsub()
    pubsub.subscribe(broker.keys.control("r1"))
    # Subscribed for sure before the cancel: a message published earlier would reach no one.
    assert pubsub.get_message(timeout=WAIT)["type"] == "subscribe"
    assert pubsub.get_message(timeout=1) is None
    assert broker.cancel(j.id) == "cancelling"
    message = pubsub.get_message(timeout=WAIT)
    assert message is not None and message["data"] == f"cancel {j.id}"
    pubsub.close()


def test_unknown_job(broker: Broker) -> None:
    with pytest.raises(JobNotFound):
        broker.result("nope")
    with pytest.raises(JobNotFound):
        broker.cancel("nope")


def test_wait_is_woken_by_finish(broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    broker.reserve("r1", W, 1)
    broker.start_many("r1", W, [j.id])
    results: list[JobResult] = []
    waiters = [threading.Thread(target=lambda: results.append(broker.wait(j.id, 10))) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    broker.finish("r1", W, JobResult(job_id=j.id, status=JobStatus.COMPLETED, output="done"))
    for waiter in waiters:
        waiter.join()
    assert [res.output for res in results] == ["done"] * 3


def test_wait_timeout(broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    with pytest.raises(WaitTimeout):
        broker.wait(j.id, 0.2)


def test_logs_and_eof(broker: Broker, key: SigningKey) -> None:
    j = job(key)
    broker.enqueue(j)
    broker.reserve("r1", W, 1)
    broker.start_many("r1", W, [j.id])
    broker.append_log("r1", j.id, ["one", "two"])
    assert list(broker.logs(j.id)) == ["one", "two"]
    follower: list[str] = []
    thread = threading.Thread(target=lambda: follower.extend(broker.logs(j.id, follow=True)))
    thread.start()
    broker.append_log("r1", j.id, ["three"])
    broker.finish("r1", W, JobResult(job_id=j.id, status=JobStatus.COMPLETED))
    thread.join(10)
    assert follower == ["one", "two", "three"]


def test_progress_is_stored_only_while_the_job_runs_on_the_worker_reporting_it(
    broker: Broker, key: SigningKey, r: redis.Redis
) -> None:
    j = job(key)
    broker.enqueue(j)
    hash_key = broker.keys.job("r1", j.id)

    def report(percent: int, worker: str = W) -> None:
        broker.append_log("r1", j.id, [], progress_value(percent, f"at {percent}", 1), worker)

    report(10)  # queued, not yet running
    assert r.hget(hash_key, "progress") is None
    broker.reserve("r1", W, 1)
    broker.start_many("r1", W, [j.id])
    report(20, "host:1:3")  # another worker's delivery
    assert r.hget(hash_key, "progress") is None
    broker.append_log("r1", j.id, ["a line"], progress_value(30, "with a line", 1), W)
    assert r.hget(hash_key, "progress") == progress_value(30, "with a line", 1)
    assert list(broker.logs(j.id)) == ["a line"]
    assert broker.result(j.id).progress is not None
    broker.finish("r1", W, JobResult(job_id=j.id, status=JobStatus.COMPLETED))
    report(40)  # after the result: never lands
    assert r.hget(hash_key, "progress") == progress_value(30, "with a line", 1)
    assert broker.result(j.id).progress is None


def test_submit_many(client: RedisClient) -> None:
    ids = client.submit_many({"runner_id": "r1", "payload": f"job {n}"} for n in range(50))
    assert len(set(ids)) == 50
    assert client.broker.queue_length("r1") == 50


def test_namespaces_are_separate(redis_url: str, r: redis.Redis, key: SigningKey) -> None:
    with Broker.from_url(redis_url, "tenant-a") as a, Broker.from_url(redis_url, "tenant-b") as b:
        j = job(key)
        a.enqueue(j)
        assert a.queue_length("r1") == 1
        assert b.queue_length("r1") == 0
        with pytest.raises(JobNotFound):
            b.result(j.id)


def test_batch_with_a_replayed_id_queues_nothing(client: RedisClient) -> None:
    first = client.submit({"runner_id": "r1", "payload": "x"})
    batch = [{"runner_id": "r1", "payload": "y", "id": "fresh-1"}, {"runner_id": "r1", "payload": "x", "id": first}]
    with pytest.raises(JobRejected):
        client.submit_many(batch)
    assert client.broker.queue_length("r1") == 1
    client.submit({"runner_id": "r1", "payload": "y", "id": "fresh-1"})  # its id was released


def test_enqueue_each_refuses_only_the_replayed_ids(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    sent = job(key)
    broker.enqueue(sent)
    fresh = [job(key) for _ in range(3)]
    assert broker.enqueue_each(fresh) == [True, True, True]
    again = [job(key), job(key, id=sent.id, timeout=5), fresh[1], job(key)]
    assert broker.enqueue_each(again) == [True, False, False, True]
    queued = {sent.id, *(j.id for j in fresh), again[0].id, again[3].id}
    assert set(r.lrange(broker.keys.queue("r1"), 0, -1)) == queued
    assert broker.queue_length("r1") == len(queued)
    assert broker.job(sent.id) == sent  # the replay left the job holding the id as it was
    assert broker.enqueue_each([]) == []


@pytest.mark.single_redis  # one script claims and queues: a cluster takes two steps
def test_a_batch_naming_one_id_twice_queues_nothing(client: RedisClient) -> None:
    twice = [{"runner_id": "r1", "payload": p, "id": "twice"} for p in ("a", "b")]
    with pytest.raises(JobRejected, match="'twice' was already submitted"):
        client.submit_many(twice)
    assert client.broker.queue_length("r1") == 0
    client.submit(twice[0])  # nothing of the refused batch stayed claimed


def test_cluster_mode_claims_then_enqueues(redis_url: str, r: redis.Redis, key: SigningKey) -> None:
    with Broker.from_url(redis_url, cluster=True) as broker:
        j = job(key)
        assert broker.enqueue(j) == j.id
        assert broker.runner_of(j.id) == "r1"
        with pytest.raises(JobRejected):
            broker.enqueue(j)
        with pytest.raises(JobRejected):
            broker.enqueue(job(key, runner="r2", id=j.id))
        assert (broker.queue_length("r1"), broker.queue_length("r2")) == (1, 0)


def test_cluster_mode_queues_a_batch_up_to_its_first_replayed_id(redis_url: str, key: SigningKey) -> None:
    with Broker.from_url(redis_url, cluster=True) as broker:
        seen = job(key, runner="r2")
        broker.enqueue(seen)
        batch = [job(key), job(key, runner="r2"), job(key, id=seen.id), job(key), job(key, runner="r2")]
        with pytest.raises(JobRejected, match=f"{seen.id!r} was already submitted"):
            broker.enqueue_many(batch)
        assert (broker.queue_length("r1"), broker.queue_length("r2")) == (1, 2)
        assert broker.runner_of(batch[0].id) == "r1" and broker.runner_of(batch[1].id) == "r2"
        # The ids after the refused one were given back: they can be submitted again.
        assert broker.enqueue_many(batch[3:]) == [batch[3].id, batch[4].id]
        assert (broker.queue_length("r1"), broker.queue_length("r2")) == (2, 3)


def test_cycle_acknowledges_and_reserves_in_one_call(broker: Broker, key: SigningKey, r: redis.Redis) -> None:
    jobs = [job(key) for _ in range(5)]
    broker.enqueue_many(jobs)
    _, first = broker.cycle("r1", W, [], 2)
    assert first == [jobs[0].id, jobs[1].id]
    started = broker.start_many("r1", W, first)
    assert [s.verdict for s in started] == ["run", "run"]
    results = [JobResult(job_id=s.job_id, status=JobStatus.COMPLETED) for s in started]
    stored, more = broker.cycle("r1", W, results, 10)
    assert stored == [True, True]
    assert more == [j.id for j in jobs[2:]]
    assert r.lrange(broker.keys.inflight("r1", W), 0, -1) == list(reversed(more))
    assert broker.wait(jobs[0].id, 1).status == JobStatus.COMPLETED


def test_run_waits_in_the_same_write(client: RedisClient, r: redis.Redis) -> None:
    job_id = "run-me"

    def worker() -> None:
        with Broker.from_url(client.broker.url, client.broker.keys.namespace) as other:
            assert other.reserve("r1", W, 10) == job_id
            other.start_many("r1", W, [job_id])
            other.finish("r1", W, JobResult(job_id=job_id, status=JobStatus.COMPLETED, output="hi"))

    thread = threading.Thread(target=worker)
    thread.start()
    assert client.run({"runner_id": "r1", "payload": "x", "id": job_id}, 10).output == "hi"
    thread.join()
    with pytest.raises(JobRejected, match="already submitted"):
        client.run({"runner_id": "r1", "payload": "x", "id": job_id}, 10)


def test_run_loads_scripts_after_a_flush(client: RedisClient, r: redis.Redis) -> None:
    r.script_flush()
    with pytest.raises(WaitTimeout):
        client.run({"runner_id": "r1", "payload": "x"}, 0.2)
    assert client.broker.queue_length("r1") == 1


def test_run_times_out(client: RedisClient) -> None:
    with pytest.raises(WaitTimeout):
        client.run({"runner_id": "r1", "payload": "x"}, 0.05)


def test_delete_only_ended_jobs(client: RedisClient, r: redis.Redis) -> None:
    from horus.errors import JobActive

    job_id = client.submit({"runner_id": "r1", "payload": "x"})
    with pytest.raises(JobActive, match="still dispatched"):
        client.delete(job_id)
    assert client.cancel(job_id) == "cancelled"
    client.delete(job_id)
    with pytest.raises(JobNotFound):
        client.result(job_id)
    # Only the id's claim is left, marked deleted.
    assert [k for k in r.scan_iter(match=f"*{job_id}*")] == [client.broker.keys.job_index(job_id)]
    with pytest.raises(JobNotFound):
        client.delete(job_id)


def accepted_with(broker: Broker, j: Job, owner: str) -> bool:
    """enqueue_with's verdict: on a Cluster a replayed id raises, on a single Redis it is reported."""
    try:
        return broker.enqueue_with(j, [], owner=owner)[0]
    except JobRejected as exc:
        assert exc.code == "replayed_id"
        return False


@pytest.mark.parametrize("cluster", [False, True])
def test_a_deleted_id_stays_claimed(
    redis_url: str, namespace: str, key: SigningKey, r: redis.Redis, cluster: bool
) -> None:
    with Broker.from_url(redis_url, namespace, cluster=cluster) as broker:
        j = job(key)
        broker.enqueue(j)
        assert broker.cancel(j.id) == "cancelled"
        broker.delete(j.id)
        for lookup in (broker.result, broker.job, broker.owner, broker.cancel, broker.delete, broker.log_page):
            with pytest.raises(JobNotFound):
                lookup(j.id)
        with pytest.raises(JobRejected) as info:
            broker.enqueue(j)
        assert info.value.code == "replayed_id"
        assert not accepted_with(broker, j, "token:a")  # the supervisor's path
        assert broker.queue_length("r1") == 0
        # Claimed anew for the whole id ttl, longer than any freshness window.
        assert broker.id_ttl_s - 60 < r.ttl(broker.keys.job_index(j.id)) <= broker.id_ttl_s


@pytest.mark.parametrize("cluster", [False, True])
def test_the_owner_is_written_with_the_job_only(
    redis_url: str, namespace: str, key: SigningKey, r: redis.Redis, cluster: bool
) -> None:
    with Broker.from_url(redis_url, namespace, cluster=cluster) as broker:
        j = job(key)
        assert broker.enqueue_with(j, [], owner="token:a")[0]
        assert broker.owner(j.id) == "token:a"
        assert not accepted_with(broker, j, "token:b")
        assert broker.owner(j.id) == "token:a"
        plain = job(key)
        broker.enqueue(plain)
        assert broker.owner(plain.id) is None
        assert "owner" not in r.hgetall(broker.keys.job("r1", plain.id))
