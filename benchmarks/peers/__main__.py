"""``python -m benchmarks.peers [names...] [--smoke]``: measure peers alone against a private redis-server."""

from __future__ import annotations

import argparse
import json
import sys

from benchmarks.peers import PEERS, by_name
from benchmarks.redis_server import private_redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"peers to run (default: all available): {[p.NAME for p in PEERS]}")
    parser.add_argument("--smoke", action="store_true", help="300 enqueues, 300-job drain, 50 round trips")
    parser.add_argument("--jobs", type=int, default=5_000, help="jobs for the enqueue measurements")
    parser.add_argument("--drain-jobs", type=int, default=20_000, help="jobs queued before the drain")
    parser.add_argument("--round-trips", type=int, default=300, help="sequential submit-and-wait calls")
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.drain_jobs, args.round_trips = 300, 300, 50

    known = by_name()
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown peer(s) {unknown}; known: {sorted(known)}")
    peers = [known[name] for name in args.names] if args.names else PEERS
    with private_redis() as url:
        for peer in peers:
            if not peer.available():
                print(f"{peer.NAME}: not installed, skipped", file=sys.stderr)
                continue
            figures = peer.measure(url, args.jobs, args.drain_jobs, args.round_trips)
            print(json.dumps({peer.NAME: figures, "versions": peer.versions()}), flush=True)


if __name__ == "__main__":
    main()
