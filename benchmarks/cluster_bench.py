"""Horus on a Redis Cluster against one Redis, paired: three runners whose queues sit on three
different masters of a local 3-master cluster (``scripts/redis-group``), and the same three
runners on one private redis-server, in the same run.

One worker per runner on each side (``--concurrency 2``, events on), all six running for the
whole measurement. Drains alternate between the two sides round by round, as do the lone round
trips afterwards, so both see the same machine. After the run each runner's jobs are checked to
be on the master of its queue's slot, asked directly of that master (``CLUSTER COUNTKEYSINSLOT``).

``make bench-cluster`` runs it and writes benchmarks/results/cluster.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis

from benchmarks.horus_bench import worker
from benchmarks.redis_server import private_redis, server_version
from horus.client import RedisClient
from horus.keys import DEFAULT_NAMESPACE, Keys
from horus.models import JobStatus
from horus.redis_url import Address, ClusterTarget, parse_target
from horus.resp import Connection
from horus.resp_cluster import ClusterConnection
from horus.signing import generate_key, public_hex

ROOT = Path(__file__).resolve().parents[1]
GROUP = ROOT / "scripts" / "redis-group"
RESULTS = ROOT / "benchmarks" / "results"
NOOP = json.dumps({"task": "noop"})
SIDES = ("single", "cluster")
#: A drain of jobs submitted while the workers run, and of a backlog all queued when it starts.
KINDS = ("live", "backlog")
#: A cluster's ports: P..P+5 for the nodes, P+100..P+105 for their cluster bus.
CLUSTER_OFFSETS = (0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105)
WAIT_S = 300.0


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base(low: int = 19000, high: int = 19800) -> int:
    bases = list(range(low, high, 10))
    random.shuffle(bases)
    for base in bases:
        if all(_free(base + offset) for offset in CLUSTER_OFFSETS):
            return base
    raise SystemExit(f"cluster bench: no free ports for a cluster in {low}-{high}")


def _group(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GROUP), "cluster", *args], capture_output=True, text=True, timeout=150, check=False)


@contextlib.contextmanager
def local_cluster(base_port: int | None = None) -> Iterator[ClusterTarget]:
    """A 3-master, 3-replica cluster on free loopback ports, stopped (and its directory removed)
    on the way out."""
    with tempfile.TemporaryDirectory(prefix="horus-bench-cluster-") as workdir:
        started: subprocess.CompletedProcess[str] | None = None
        try:
            for _ in range(1 if base_port else 5):  # another run may take the ports meanwhile
                port = base_port or _free_base()
                started = _group("start", "--dir", workdir, "--base-port", str(port), "--timeout", "120")
                if started.returncode == 0:
                    break
                _group("stop", "--dir", workdir)
            if started is None or started.returncode != 0:
                raise SystemExit(f"cluster bench: the cluster did not start: {started and started.stderr}")
            target = parse_target(started.stdout.strip().splitlines()[-1])
            if not isinstance(target, ClusterTarget):
                raise SystemExit(f"cluster bench: redis-group printed {started.stdout!r}, not a cluster URL")
            yield target
        finally:
            _group("stop", "--dir", workdir)


def runners_on_every_master(target: ClusterTarget, namespace: str) -> dict[str, tuple[str, int]]:
    """Three runner ids whose queues sit on three different masters: runner -> (host, port)."""
    keys, conn = Keys(namespace), ClusterConnection(target)
    try:
        if len(conn.slots.masters()) != 3:
            raise SystemExit(f"cluster bench: the cluster has {len(conn.slots.masters())} masters, not 3")
        chosen: dict[tuple[str, int], str] = {}
        for n in range(1000):
            node = conn.slots.master_for_key(keys.queue(f"bench-c{n}"))
            chosen.setdefault((node.host, node.port), f"bench-c{n}")
            if len(chosen) == 3:
                return {runner: where for where, runner in sorted(chosen.items(), key=lambda item: item[1])}
    finally:
        conn.close()
    raise SystemExit("cluster bench: no three runner ids on three masters")


def check_placement(
    target: ClusterTarget, namespace: str, placed: dict[str, tuple[str, int]], jobs: int
) -> dict[str, dict[str, Any]]:
    """Each runner's keys on the master its queue was placed on, asked of the masters
    themselves: at least ``jobs`` keys in the queue's slot there (a job leaves its hash, its
    spec and its result), none in that slot on the other masters. Exits otherwise."""
    keys = Keys(namespace)
    found: dict[str, dict[str, Any]] = {}
    for runner, home in placed.items():
        counts: dict[tuple[str, int], int] = {}
        for host, port in sorted(set(placed.values())):
            direct = Connection(target.node(host, port))
            try:
                slot = int(direct.call("CLUSTER", "KEYSLOT", keys.queue(runner)))
                counts[host, port] = int(direct.call("CLUSTER", "COUNTKEYSINSLOT", slot))
            finally:
                direct.close()
        elsewhere = {f"{host}:{port}": n for (host, port), n in counts.items() if (host, port) != home}
        if counts[home] < jobs or any(elsewhere.values()):
            raise SystemExit(
                f"cluster bench: runner {runner}'s slot {slot} holds {counts[home]} keys on its master "
                f"{home[0]}:{home[1]} (expected at least {jobs}) and {elsewhere} on the others"
            )
        found[runner] = {"master": f"{home[0]}:{home[1]}", "slot": slot, "keys_in_slot": counts[home]}
    return found


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of a live process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_cpu_s(pids: list[int]) -> float:
    """CPU seconds of worker masters and their children (the children live as long as the run)."""
    tree = set(pids)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if parent in pids:
                tree.add(int(entry.name))
    return sum(_cpu_s(pid) for pid in tree)


def redis_cpu_s(servers: list[tuple[str, Connection]]) -> dict[str, float]:
    """CPU seconds each kind of server (``single``, ``master``, ``replica``) has used, from
    ``INFO cpu`` (what Redis reports for itself, threads included)."""
    used: dict[str, float] = {}
    for role, conn in servers:
        fields = dict(line.split(":", 1) for line in str(conn.call("INFO", "cpu")).split() if ":" in line)
        used[role] = used.get(role, 0.0) + float(fields["used_cpu_sys"]) + float(fields["used_cpu_user"])
    return used


def cluster_servers(target: ClusterTarget) -> list[tuple[str, Connection]]:
    """A connection to each node of the cluster (its URL names them all), with its role."""
    servers = []
    for seed in target.seeds:
        conn = Connection(target.node(seed.host, seed.port))
        role = "master" if "role:master" in str(conn.call("INFO", "replication")) else "replica"
        servers.append((role, conn))
    return servers


class Meter:
    """What a drain cost the machine: Redis's CPU (per kind of server) and the workers' CPU."""

    def __init__(self, servers: list[tuple[str, Connection]], workers: list[int]) -> None:
        self.servers, self.workers = servers, workers
        self.redis: dict[str, float] = {}
        self.worker = 0.0

    def start(self) -> None:
        self.redis, self.worker = redis_cpu_s(self.servers), worker_cpu_s(self.workers)

    def stop(self, jobs: int) -> dict[str, float]:
        """CPU µs per job since :meth:`start`."""
        redis_now, worker_now = redis_cpu_s(self.servers), worker_cpu_s(self.workers)
        cost = {f"redis_{role}_us": (redis_now[role] - self.redis[role]) * 1e6 / jobs for role in redis_now}
        return cost | {"worker_us": (worker_now - self.worker) * 1e6 / jobs}


def drain(
    client: RedisClient, meter: Meter, runners: list[str], jobs: int, lead_s: float | None = None
) -> dict[str, float]:
    """``jobs`` no-op jobs for each runner, submitted in batches of 1,000 taking turns between
    the runners while the workers run; every result read back and checked.

    ``lead_s``: the jobs are a backlog instead: all due ``lead_s`` seconds after the first
    submission (``not_before``), so that the workers find every job queued when the drain
    starts; the lead must outlast the submission, or this exits."""
    ids: dict[str, list[str]] = {runner: [] for runner in runners}
    meter.start()
    began = time.perf_counter()
    job: dict[str, object] = {"payload": NOOP}
    if lead_s is not None:
        job["not_before"] = time.time() + lead_s
    for offset in range(0, jobs, 1000):
        batch = min(1000, jobs - offset)
        for runner in runners:
            ids[runner] += client.submit_many(job | {"runner_id": runner} for _ in range(batch))
    submit_s = time.perf_counter() - began
    submitted_at = time.time()
    for runner in runners:  # the last job of each: the client keeps off the CPU while they drain
        client.wait(ids[runner][-1], WAIT_S)
    cost = meter.stop(jobs * len(runners))  # the submission and the drain, not the reading below
    results = [client.wait(job_id, WAIT_S) for runner in runners for job_id in ids[runner]]
    bad = [res for res in results if res.status != JobStatus.COMPLETED]
    if bad:
        raise SystemExit(f"cluster bench: {len(bad)} of {len(results)} drain jobs did not complete: {bad[0]}")
    first = min(res.started_at or 0 for res in results)
    last = max(res.completed_at or 0 for res in results)
    if lead_s is not None and first < submitted_at:
        raise SystemExit(
            f"cluster bench: a backlog job started {submitted_at - first:.2f} s before the last was "
            f"submitted (lead {lead_s:.1f} s, submission {submit_s:.1f} s): the machine is too busy"
        )
    return {
        "drain_rate": len(results) / (last - first),
        "submit_rate": len(results) / submit_s,
        "submit_s": submit_s,
    } | cost


def round_trip(client: RedisClient, runner: str) -> float:
    began = time.perf_counter()
    result = client.run({"runner_id": runner, "payload": NOOP}, 30)
    elapsed_ms = (time.perf_counter() - began) * 1000
    if result.status != JobStatus.COMPLETED:
        raise SystemExit(f"cluster bench: a round trip on {runner} ended {result.status}")
    return elapsed_ms


def _address(url: str) -> Address:
    target = parse_target(url)
    if not isinstance(target, Address):
        raise SystemExit(f"cluster bench: {url} is not one Redis")
    return target


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(single_url: str, cluster: ClusterTarget, jobs: int, rounds: int, round_trips: int) -> dict[str, Any]:
    """``jobs`` per runner per drain, ``rounds`` drains a side, ``round_trips`` lone round trips
    a side (spread over the three runners)."""
    namespace = DEFAULT_NAMESPACE
    placed = runners_on_every_master(cluster, namespace)
    runners = list(placed)
    key = generate_key()
    urls = {"single": single_url, "cluster": str(cluster)}
    with redis.Redis.from_url(single_url) as r:
        r.flushdb()
    drains: dict[tuple[str, str], list[dict[str, float]]] = {(kind, side): [] for kind in KINDS for side in SIDES}
    latencies: dict[str, list[float]] = {side: [] for side in SIDES}
    with ExitStack() as stack:
        clients = {side: stack.enter_context(RedisClient(urls[side], namespace, key=key)) for side in SIDES}
        single = Connection(_address(single_url))
        stack.callback(single.close)
        servers = {"single": [("single", single)], "cluster": cluster_servers(cluster)}
        for _, conn in servers["cluster"]:
            stack.callback(conn.close)
        meters: dict[str, Meter] = {}
        for side in SIDES:
            procs = [stack.enter_context(worker(urls[side], public_hex(key), runner_id=r)) for r in runners]
            meters[side] = Meter(servers[side], [proc.pid for proc in procs])
        for side in SIDES:  # warm every worker up: imports, scripts loaded, first connections
            for runner in runners:
                round_trip(clients[side], runner)
        # The backlog's lead: twice the side's longest submission so far (a live drain comes
        # first in every round), and a second more.
        lead_s = dict.fromkeys(SIDES, 0.0)
        for n in range(rounds):
            for kind in KINDS:
                for side in SIDES if n % 2 == 0 else SIDES[::-1]:
                    figures = drain(
                        clients[side], meters[side], runners, jobs, lead_s[side] if kind == "backlog" else None
                    )
                    drains[kind, side].append(figures)
                    lead_s[side] = max(lead_s[side], 1.0 + 2 * figures["submit_s"])
        for n in range(round_trips):
            for side in SIDES if n % 2 == 0 else SIDES[::-1]:
                latencies[side].append(round_trip(clients[side], runners[n % len(runners)]))
    # At least every drain job of each runner (a warm-up and some round trips came on top).
    placement = check_placement(cluster, namespace, placed, jobs * rounds * len(KINDS))
    return summary(drains, latencies) | {"placement": placement}


def summary(drains: dict[tuple[str, str], list[dict[str, float]]], latencies: dict[str, list[float]]) -> dict[str, Any]:
    """Medians a side, and the cluster's figures over the single Redis's (for drains, the
    median of the paired drains' ratios)."""
    report: dict[str, Any] = {}
    for side in SIDES:
        report[side] = {
            "p50_ms": statistics.median(latencies[side]),
            "p99_ms": _quantile(latencies[side], 0.99),
            "submit_rate": statistics.median(d["submit_rate"] for d in drains["live", side]),
        }
        for kind in KINDS:
            rates = [d["drain_rate"] for d in drains[kind, side]]
            report[side][f"{kind}_drain_rate"] = statistics.median(rates)
            report[side][f"{kind}_drain_rates"] = [round(rate) for rate in rates]
        # CPU per job (submission and drain, both kinds of drain), medians over the drains.
        every = drains["live", side] + drains["backlog", side]
        for name in sorted(k for k in every[0] if k.endswith("_us")):
            report[side][f"{name[:-3]}_cpu_us_per_job"] = statistics.median(d[name] for d in every)

    def ratio(kind: str) -> float:
        pairs = zip(drains[kind, "cluster"], drains[kind, "single"], strict=True)
        return statistics.median(c["drain_rate"] / s["drain_rate"] for c, s in pairs)

    report["cluster_vs_single"] = {
        "live_drain": ratio("live"),
        "backlog_drain": ratio("backlog"),
        "submit": report["cluster"]["submit_rate"] / report["single"]["submit_rate"],
        "p50": report["cluster"]["p50_ms"] / report["single"]["p50_ms"],
        "p99": report["cluster"]["p99_ms"] / report["single"]["p99_ms"],
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env = os.environ.get
    parser.add_argument(
        "--jobs", type=int, default=int(env("BENCH_CLUSTER_JOBS", 3_000)), help="jobs per runner per drain"
    )
    parser.add_argument(
        "--rounds", type=int, default=int(env("BENCH_CLUSTER_ROUNDS", 5)), help="drains a side, alternating"
    )
    parser.add_argument(
        "--round-trips",
        type=int,
        default=int(env("BENCH_CLUSTER_ROUND_TRIPS", 500)),
        help="lone round trips a side, alternating",
    )
    parser.add_argument("--single-url", help="one Redis to measure against (default: a private redis-server)")
    parser.add_argument("--base-port", type=int, help="the cluster's first port (default: free ones)")
    parser.add_argument("--smoke", action="store_true", help="a few hundred jobs: checks the bench runs")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default benchmarks/results/cluster.json)")
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.rounds, args.round_trips = 300, 2, 30
    began, load_before = time.monotonic(), os.getloadavg()
    with ExitStack() as stack:
        single = args.single_url or stack.enter_context(private_redis())
        cluster = stack.enter_context(local_cluster(args.base_port))
        redis_version = server_version(single)
        figures = measure(single, cluster, args.jobs, args.rounds, args.round_trips)
    from benchmarks.run import machine

    report = {
        "machine": machine() | {"load_average": {"start": load_before, "end": os.getloadavg()}},
        "versions": {"horus": version("horus"), "redis-server": redis_version},
        "workload": {
            "runners": 3,
            "workers": "one per runner a side, --concurrency 2, events on",
            "jobs_per_runner_per_drain": args.jobs,
            "rounds": args.rounds,
            "round_trips": args.round_trips,
            "task": "no-op",
            "single": "a private redis-server" if not args.single_url else args.single_url,
            "cluster": "3 masters and 3 replicas (scripts/redis-group), each runner's queue on its own master",
            "smoke": args.smoke,
            "seconds": round(time.monotonic() - began, 1),
        },
        "results": figures,
    }
    text = json.dumps(report, indent=2) + "\n"
    print(text, end="")
    out = args.out or RESULTS / ("cluster-smoke.json" if args.smoke else "cluster.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    ratio, single, on_cluster = figures["cluster_vs_single"], figures["single"], figures["cluster"]
    print(
        f"cluster / single: live drain {ratio['live_drain']:.2f}x ({on_cluster['live_drain_rate']:,.0f} against "
        f"{single['live_drain_rate']:,.0f} jobs/s), backlog drain {ratio['backlog_drain']:.2f}x "
        f"({on_cluster['backlog_drain_rate']:,.0f} against {single['backlog_drain_rate']:,.0f} jobs/s), "
        f"p50 {ratio['p50']:.2f}x ({on_cluster['p50_ms']:.2f} against {single['p50_ms']:.2f} ms); wrote {out}"
    )


if __name__ == "__main__":
    main()
