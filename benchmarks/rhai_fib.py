"""Recursive fibonacci in Rhai (compiled by horus.rhai) versus the same function in plain Python.

Usage: python benchmarks/rhai_fib.py [--n 25] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from horus.rhai import Engine

RHAI_FIB = """
fn fib(n) {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}
fib(N)
"""


def py_fib(n: int) -> int:
    if n < 2:
        return n
    return py_fib(n - 1) + py_fib(n - 2)


def best_of(repeat: int, fn: object) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    engine = Engine()
    program = engine.compile(RHAI_FIB.replace("N", str(args.n)))
    expected = py_fib(args.n)
    if engine.run(program) != expected:
        raise SystemExit("Rhai fib returned a wrong result")
    rhai_s = best_of(args.repeat, lambda: engine.run(program))
    python_s = best_of(args.repeat, lambda: py_fib(args.n))
    result = {
        "n": args.n,
        "rhai_seconds": round(rhai_s, 6),
        "python_seconds": round(python_s, 6),
        "ratio": round(rhai_s / python_s, 2),
        "python": sys.version.split()[0],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"fib({args.n}) rhai={rhai_s:.4f}s python={python_s:.4f}s ratio={result['ratio']}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
