"""Prometheus metrics computed from Redis at scrape time (the supervisor's ``GET /metrics``).

Every supervisor reads the same keys, so any of them answers a scrape with the same numbers.
The collector has a registry of its own: nothing else in the process lands in the output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from horus import events, inspect

if TYPE_CHECKING:
    from horus.broker import Broker

#: The content type of the text format ``generate_latest`` writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def queue_gauges(_broker: Broker, snapshot: inspect.Snapshot) -> Iterator[Metric]:
    """The per-runner gauges of :func:`horus.inspect.queues`."""
    gauges = [
        ("horus_queue_depth", "Jobs waiting in the runner's queue.", "queued"),
        ("horus_jobs_in_flight", "Jobs reserved by the runner's worker children (running or about to).", "in_flight"),
        ("horus_scheduled_jobs", "Jobs waiting for their not_before or their next attempt.", "scheduled"),
        ("horus_dead_letters", "Entries in the runner's dead-letter list.", "dead"),
        ("horus_workers", "Live worker masters serving the runner.", "workers"),
    ]
    for name, documentation, field in gauges:
        family = GaugeMetricFamily(name, documentation, labels=["runner"])
        for queue in snapshot.queues:
            family.add_metric([queue.runner_id], float(getattr(queue, field)))
        yield family


def job_counters(broker: Broker, snapshot: inspect.Snapshot) -> Iterator[Metric]:
    """Ended jobs by final status and their durations, from the runners' stats hashes.

    The scripts that end a job count it in the same call (one count per job, whichever worker or
    supervisor ended it), so every supervisor reports the same totals.
    """
    stats = events.read_all_stats(broker, [queue.runner_id for queue in snapshot.queues])
    jobs = CounterMetricFamily("horus_jobs", "Jobs ended, by final status.", labels=["runner", "status"])
    retried = CounterMetricFamily(
        "horus_job_retries", "Attempts that failed or timed out and were scheduled again.", labels=["runner"]
    )
    dead = CounterMetricFamily(
        "horus_jobs_dead_lettered", "Jobs given up after too many deliveries.", labels=["runner"]
    )
    durations = HistogramMetricFamily(
        "horus_job_duration_seconds", "How long ended jobs ran, their start to their end.", labels=["runner"]
    )
    for runner in stats:
        for status, count in runner.ended.items():
            jobs.add_metric([runner.runner_id, status], float(count))
        retried.add_metric([runner.runner_id], float(runner.retried))
        dead.add_metric([runner.runner_id], float(runner.dead_lettered))
        buckets = [(bucket.le, float(bucket.count)) for bucket in runner.buckets]
        durations.add_metric([runner.runner_id], buckets, runner.duration_sum_s)
    yield from (jobs, retried, dead, durations)


#: What a scrape reports: each function gets the broker and one snapshot of the runners (read
#: once per scrape) and yields metric families.
Family = Callable[["Broker", inspect.Snapshot], Iterable[Metric]]
FAMILIES: list[Family] = [queue_gauges, job_counters]


class RedisCollector(Collector):
    """Reads one snapshot per scrape and hands it to each of ``families``."""

    def __init__(self, broker: Broker, families: list[Family] | None = None) -> None:
        self.broker = broker
        self.families = FAMILIES if families is None else families

    def collect(self) -> Iterator[Metric]:
        snapshot = inspect.snapshot(self.broker, jobs=False)
        for family in self.families:
            yield from family(self.broker, snapshot)


def registry_for(broker: Broker, families: list[Family] | None = None) -> CollectorRegistry:
    # auto_describe off: describing would run a scrape (Redis reads) at registration.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(broker, families))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in Prometheus text format."""
    return generate_latest(registry)


def loopback(host: str | None) -> bool:
    """Whether a client address is this machine's own (127.0.0.0/8, ::1, IPv4-mapped loopback)."""
    if not host:
        return False
    address = host.removeprefix("::ffff:")
    return address == "::1" or address.startswith("127.")


def needs_token(client_host: str | None, token_required: bool) -> bool:
    """The access rule of ``GET /metrics``: open to loopback clients, a supervisor token for any
    other; with ``token_required`` (``--metrics-token-required``) a token from every client."""
    return token_required or not loopback(client_host)
