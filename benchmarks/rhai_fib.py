"""Recursive fibonacci in Rhai (compiled by horus.rhai) versus the same function in plain Python.

Usage: python benchmarks/rhai_fib.py [--n 25] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
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


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_of(repeat: int, first: Callable[[], object], second: Callable[[], object]) -> tuple[float, float]:
    """Best time of each, interleaving the runs so that machine noise hits both alike."""
    best_a = best_b = float("inf")
    for _ in range(repeat):
        best_a = min(best_a, timed(first))
        best_b = min(best_b, timed(second))
    return best_a, best_b


def measure(n: int = 25, repeat: int = 7) -> dict[str, object]:
    """Best-of-``repeat`` timings of fib(n) in Rhai (with and without limits) and in Python."""
    source = RHAI_FIB.replace("N", str(n))
    expected = py_fib(n)
    # The default engine has no operation limit; the limited one counts every call against a budget.
    engine = Engine()
    limited = Engine(max_operations=10**15, timeout=3600.0)
    program, limited_program = engine.compile(source), limited.compile(source)
    if engine.run(program) != expected or limited.run(limited_program) != expected:
        raise SystemExit("Rhai fib returned a wrong result")
    rhai_s, python_s = best_of(repeat, lambda: engine.run(program), lambda: py_fib(n))
    limited_s, python2_s = best_of(repeat, lambda: limited.run(limited_program), lambda: py_fib(n))
    return {
        "n": n,
        "rhai_seconds": round(rhai_s, 6),
        "python_seconds": round(python_s, 6),
        "ratio": round(rhai_s / python_s, 2),
        "rhai_with_limits_seconds": round(limited_s, 6),
        "ratio_with_limits": round(limited_s / python2_s, 2),
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = measure(args.n, args.repeat)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"fib({args.n}) rhai={result['rhai_seconds']:.4f}s python={result['python_seconds']:.4f}s "
            f"ratio={result['ratio']}x (with operation limit and deadline: "
            f"{result['rhai_with_limits_seconds']:.4f}s, ratio={result['ratio_with_limits']}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
