"""The benchmark suite: ``make bench`` (full) or ``make bench-smoke`` (a few hundred jobs).

Writes benchmarks/results/latest.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import horus_bench
from benchmarks.redis_server import private_redis, server_version

RESULTS = Path(__file__).parent / "results"

COLUMNS = [
    ("enqueue_rate", "enqueue jobs/s", "{:,.0f}"),
    ("bulk_enqueue_rate", "bulk enqueue jobs/s", "{:,.0f}"),
    ("drain_rate", "drain jobs/s", "{:,.0f}"),
    ("p50_ms", "round trip p50 ms", "{:.2f}"),
    ("p99_ms", "round trip p99 ms", "{:.2f}"),
    ("redis_bytes_per_job", "Redis bytes/queued job", "{:,.0f}"),
    ("worker_rss_mb", "worker RSS MiB", "{:.1f}"),
]


def machine() -> dict[str, object]:
    import os

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few hundred jobs: checks the suite runs")
    parser.add_argument("--jobs", type=int, default=5_000, help="jobs for the enqueue measurements")
    parser.add_argument("--drain-jobs", type=int, default=20_000, help="jobs queued before the drain")
    parser.add_argument("--round-trips", type=int, default=300, help="sequential submit-and-wait calls")
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.drain_jobs, args.round_trips = 300, 300, 50

    with private_redis() as url:
        systems = {"horus": horus_bench.measure(url, args.jobs, args.drain_jobs, args.round_trips)}
        report = {
            "machine": machine(),
            "versions": {"horus": version("horus"), "redis-server": server_version(url), "redis-py": version("redis")},
            "workload": {
                "jobs": args.jobs,
                "drain_jobs": args.drain_jobs,
                "round_trips": args.round_trips,
                "concurrency": 2,
                "task": "no-op",
                "smoke": args.smoke,
            },
            "systems": systems,
        }

    table = Table(title="Horus benchmark" + (" (smoke)" if args.smoke else ""))
    table.add_column("system")
    for _, title, _ in COLUMNS:
        table.add_column(title, justify="right")
    for name, figures in systems.items():
        table.add_row(name, *(fmt.format(figures[key]) for key, _, fmt in COLUMNS))
    Console().print(table)

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("smoke.json" if args.smoke else "latest.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
