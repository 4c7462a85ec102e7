"""The Python API's cost: ``task.delay()`` one at a time against ``RedisClient.submit`` of the
same no-op job, in alternating rounds in one process (so both see the same machine load).

    python -m benchmarks.app_bench --jobs 5000     # prints JSON
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import orjson
import redis

from benchmarks.redis_server import private_redis
from horus.app import Horus
from horus.client import RedisClient
from horus.signing import generate_key

RUNNER = "bench-app"
ROUNDS = 7


def measure(url: str, jobs: int) -> dict[str, float]:
    r = redis.Redis.from_url(url)
    key = generate_key()
    client = RedisClient(url, key=key)
    app = Horus(RUNNER, redis_url=url, key=key)

    @app.task(name="bench_noop")
    def noop() -> None:
        return None

    payload = orjson.dumps({"task": "bench_noop", "args": []}).decode()

    def submit() -> object:
        return client.submit({"runner_id": RUNNER, "payload": payload})

    def delay() -> object:
        return noop.delay()

    submit(), delay()  # connect and load the scripts before anything is timed
    rates: dict[str, list[float]] = {"submit": [], "delay": []}
    calls: list[tuple[str, Callable[[], object]]] = [("submit", submit), ("delay", delay)]
    for round_ in range(ROUNDS):
        for name, call in calls if round_ % 2 == 0 else calls[::-1]:
            r.flushdb()
            started = time.perf_counter()
            for _ in range(jobs):
                call()
            rates[name].append(jobs / (time.perf_counter() - started))
    r.flushdb()
    client.close()
    app.close()
    ratios = [d / s for d, s in zip(rates["delay"], rates["submit"], strict=True)]
    return {
        "jobs": jobs,
        "rounds": ROUNDS,
        "submit_rate": statistics.median(rates["submit"]),
        "delay_rate": statistics.median(rates["delay"]),
        "delay_vs_submit": round(statistics.median(ratios), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5_000)
    args = parser.parse_args()
    with private_redis() as url:
        print(json.dumps(measure(url, args.jobs), indent=2))


if __name__ == "__main__":
    main()
