"""The benchmark suite: ``make bench`` (full) or ``make bench-smoke`` (a few hundred jobs).

Measures Horus and, when the optional ``bench`` dependencies are installed, each peer
(Celery, Dramatiq, RQ, arq, Huey) with the same workload on the same private Redis in the
same run. Prints a table with Horus/peer ratios and writes benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import (
    app_bench,
    beat_bench,
    coordinator_bench,
    events_bench,
    horus_bench,
    rhai_fib,
    scheduled_bench,
    supervisor_bench,
)
from benchmarks.peers import common
from benchmarks.redis_server import private_redis, server_version

RESULTS = Path(__file__).parent / "results"
#: Horus measured again with its job events and counters off (docs/operations.md): not a peer.
EVENTS_OFF = "horus (events off)"

COLUMNS = [
    ("enqueue_rate", "enqueue jobs/s", "{:,.0f}"),
    ("bulk_enqueue_rate", "bulk enqueue jobs/s", "{:,.0f}"),
    ("drain_rate", "drain jobs/s", "{:,.0f}"),
    ("p50_ms", "round trip p50 ms", "{:.2f}"),
    ("p99_ms", "round trip p99 ms", "{:.2f}"),
    ("redis_bytes_per_job", "Redis bytes/queued job", "{:,.0f}"),
    ("worker_rss_mb", "worker RSS MiB", "{:.1f}"),
]
#: Metrics where less is better; the rest are rates.
LOWER_IS_BETTER = {"p50_ms", "p99_ms", "redis_bytes_per_job", "worker_rss_mb"}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def peers(names: list[str] | None) -> list[Any]:
    try:
        from benchmarks.peers import PEERS
    except ImportError:
        return []
    chosen = [p for p in PEERS if names is None or p.NAME in names]
    return [p for p in chosen if p.available()]


def targets(systems: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The performance goals as ratios against the best peer of this run (docs/performance.md)."""
    others = {name: figures for name, figures in systems.items() if not name.startswith("horus")}
    if not others:
        return {}
    horus = systems["horus"]

    def best(metric: str, low: bool) -> tuple[str, float]:
        pick = min if low else max
        name = pick(others, key=lambda n: others[n].get(metric, float("inf") if low else 0.0))
        return name, others[name][metric]

    drain_peer, drain = best("drain_rate", False)
    enqueue_peer, enqueue = best("enqueue_rate", False)
    p50_peer, p50 = best("p50_ms", True)
    p99_peer, p99 = best("p99_ms", True)
    return {
        "drain_vs_best": {"peer": drain_peer, "ratio": horus["drain_rate"] / drain, "goal": ">= 2"},
        "signed_enqueue_vs_best": {"peer": enqueue_peer, "ratio": horus["enqueue_rate"] / enqueue, "goal": ">= 1"},
        "p50_vs_best": {"peer": p50_peer, "ratio": horus["p50_ms"] / p50, "goal": "<= 0.5"},
        "p99_vs_best": {"peer": p99_peer, "ratio": horus["p99_ms"] / p99, "goal": "<= 1"},
    }


def events_cost(systems: dict[str, dict[str, float]], paired: dict[str, float]) -> dict[str, Any]:
    """What the job events and counters cost: Horus with them on against off, in the same run
    (the two whole measurements, and the paired one of events_bench)."""
    on, off = systems["horus"], systems[EVENTS_OFF]
    return paired | {
        "drain_on_vs_off": on["drain_rate"] / off["drain_rate"],
        "p50_on_vs_off": on["p50_ms"] / off["p50_ms"],
        "p99_on_vs_off": on["p99_ms"] / off["p99_ms"],
        "enqueue_on_vs_off": on["enqueue_rate"] / off["enqueue_rate"],
        "bytes_per_job_on_minus_off": on["redis_bytes_per_job"] - off["redis_bytes_per_job"],
        "redis_us_per_drained_job_on": on["redis_us_per_drained_job"],
        "redis_us_per_drained_job_off": off["redis_us_per_drained_job"],
        "goal": "drain >= 0.95, p50 <= 1.05",
    }


def table(systems: dict[str, dict[str, float]], smoke: bool) -> Table:
    out = Table(title="Job frameworks, same machine, same Redis, same run" + (" (smoke)" if smoke else ""))
    out.add_column("system")
    for _, title, _ in COLUMNS:
        out.add_column(title, justify="right")
    horus = systems["horus"]
    for name, figures in systems.items():
        cells = []
        for key, _, fmt in COLUMNS:
            if key not in figures:
                cells.append("-")
                continue
            cell = fmt.format(figures[key])
            if name != "horus" and figures[key] and key in horus:
                cell += f" [dim]({horus[key] / figures[key]:.2f}x)[/]"
            cells.append(cell)
        out.add_row(name, *cells)
    out.caption = "(Nx) = Horus / that system"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few hundred jobs: checks the suite runs")
    parser.add_argument("--jobs", type=int, default=5_000, help="jobs for the enqueue measurements")
    parser.add_argument("--drain-jobs", type=int, default=20_000, help="jobs queued before the drain")
    parser.add_argument("--round-trips", type=int, default=300, help="sequential submit-and-wait calls")
    parser.add_argument("--scheduled-jobs", type=int, default=100_000, help="jobs enqueued with a not_before ahead")
    parser.add_argument("--due-jobs", type=int, default=10_000, help="scheduled jobs made due and released")
    parser.add_argument("--schedules", type=int, default=10_000, help="beat schedules due in the same second")
    parser.add_argument("--tick-seconds", type=float, default=10.0, help="how long the every-1s schedules run")
    parser.add_argument("--peers", nargs="*", default=None, help="peers to measure (default: all installed)")
    parser.add_argument("--no-peers", action="store_true", help="measure Horus only")
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.drain_jobs, args.round_trips = 300, 300, 50
        args.scheduled_jobs, args.due_jobs = 2_000, 1_200  # two release_due calls: the loop runs
        args.schedules, args.tick_seconds = 1_200, 3.0  # three batches a pass: the loop runs
    console = Console()

    with private_redis() as url:
        versions = {"horus": version("horus"), "redis-server": server_version(url), "redis-py": version("redis")}
        console.print(f"[bold]horus[/] on redis-server {versions['redis-server']} …")
        systems = {"horus": horus_bench.measure(url, args.jobs, args.drain_jobs, args.round_trips)}
        console.print(f"[bold]{EVENTS_OFF}[/] …")
        systems[EVENTS_OFF] = horus_bench.measure(url, args.jobs, args.drain_jobs, args.round_trips, events=False)
        scheduled = scheduled_bench.measure(url, args.scheduled_jobs, args.due_jobs)
        api = app_bench.measure(url, args.jobs)
        http = supervisor_bench.measure(url, min(args.jobs, 2_000))
        workflows = coordinator_bench.measure(url, 20 if args.smoke else 50, 200 if args.smoke else 1_000)
        beat = beat_bench.measure(url, args.schedules, 3, args.tick_seconds)
        console.print("[bold]job events on and off, paired[/] …")
        paired = events_bench.measure(
            url, 300 if args.smoke else 5_000, 2 if args.smoke else 10, 50 if args.smoke else 1_000
        )
        for peer in [] if args.no_peers else peers(args.peers):
            console.print(f"[bold]{peer.NAME}[/] …")
            systems[peer.NAME] = peer.measure(url, args.jobs, args.drain_jobs, args.round_trips)
            versions.update(peer.versions())

    report = {
        "machine": machine(),
        "versions": versions,
        "workload": {
            "jobs": args.jobs,
            "drain_jobs": args.drain_jobs,
            "round_trips": args.round_trips,
            "scheduled_jobs": args.scheduled_jobs,
            "due_jobs": args.due_jobs,
            "schedules": args.schedules,
            "runs_per_median": common.RUNS,
            "concurrency": 2,
            "task": "no-op",
            "smoke": args.smoke,
        },
        "systems": systems,
        "targets": targets(systems),
        "events_cost": events_cost(systems, paired),
        "scheduled": scheduled,
        "python_api": api,
        "supervisor": http,
        "coordinator": workflows,
        "beat": beat,
        "rhai_fib": rhai_fib.measure(20 if args.smoke else 25, 3 if args.smoke else 7),
    }
    console.print(table(systems, args.smoke))
    for name, goal in report["targets"].items():
        console.print(f"  {name}: {goal['ratio']:.2f} vs {goal['peer']} (goal {goal['goal']})")
    cost = report["events_cost"]
    console.print(
        f"  job events on vs off, paired ({cost['paired_rounds']} alternating drains of "
        f"{cost['paired_drain_jobs']:,} jobs, {cost['paired_round_trips']:,} alternating round trips each): "
        f"drain {cost['paired_drain_on_vs_off']:.3f}x ({cost['paired_drain_on']:,.0f} vs "
        f"{cost['paired_drain_off']:,.0f} jobs/s), p50 {cost['paired_p50_on_vs_off']:.3f}x "
        f"({cost['paired_p50_on_ms']:.3f} vs {cost['paired_p50_off_ms']:.3f} ms)"
    )
    console.print(
        f"  job events on vs off, whole runs: drain {cost['drain_on_vs_off']:.3f}x, p50 {cost['p50_on_vs_off']:.3f}x, "
        f"p99 {cost['p99_on_vs_off']:.3f}x, enqueue {cost['enqueue_on_vs_off']:.3f}x, "
        f"+{cost['bytes_per_job_on_minus_off']:,.0f} Redis bytes per queued job, Redis "
        f"{cost['redis_us_per_drained_job_on']:.1f} vs {cost['redis_us_per_drained_job_off']:.1f} µs per "
        f"drained job (goal {cost['goal']})"
    )
    console.print(
        f"  scheduled: {scheduled['scheduled_jobs']:,} signed jobs enqueued at "
        f"{scheduled['scheduled_enqueue_rate']:,.0f}/s, {scheduled['redis_bytes_per_scheduled_job']:,.0f} Redis "
        f"bytes each; {scheduled['due_jobs']:,} due released in {scheduled['release_s']:.3f} s "
        f"({scheduled['release_rate']:,.0f} jobs/s, {scheduled['release_calls']} release_due calls)"
    )
    console.print(
        f"  task.delay() one at a time: {api['delay_rate']:,.0f}/s, {api['delay_vs_submit']:.2f}x "
        f"RedisClient.submit ({api['submit_rate']:,.0f}/s) in the same rounds (goal >= 0.90)"
    )
    console.print(
        f"  supervisor job.create over HTTP (signed, sequential): {http['job_create_rate']:,.0f}/s, "
        f"p50 {http['job_create_p50_ms']:.2f} ms, p99 {http['job_create_p99_ms']:.2f} ms"
    )
    console.print(
        f"  coordinator: {workflows['overhead_per_step_ms']:.2f} ms overhead per chained step, "
        f"chord of {workflows['chord_width']:,} + callback in {workflows['chord_s']:.2f} s"
    )
    console.print(
        f"  beat: {beat['schedules']:,} signed schedules due at once: all queued in {beat['first_queued_s']:.2f} s, "
        f"pass done in {beat['first_pass_s']:.2f} s ({beat['first_pass_rate']:,.0f}/s) the first time; "
        f"{beat['later_queued_s']:.2f} s and {beat['later_pass_s']:.2f} s ({beat['later_pass_rate']:,.0f}/s) "
        f"once parsed; every-1s firings late by p50 {beat['lateness_p50_ms']:.1f} ms, "
        f"p99 {beat['lateness_p99_ms']:.1f} ms, max {beat['lateness_max_ms']:.1f} ms"
    )
    fib = report["rhai_fib"]
    console.print(
        f"  rhai fib({fib['n']}) vs CPython: {fib['ratio']}x, with limits {fib['ratio_with_limits']}x (goal <= 5)"
    )

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("smoke.json" if args.smoke else "latest.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
