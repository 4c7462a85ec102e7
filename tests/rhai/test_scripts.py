"""Longer self-checking scripts: each one throws if one of its own checks fails."""

from __future__ import annotations

import pytest

from horus.rhai import Engine

PRELUDE = """
fn check(cond, what) { if !cond { throw `check failed: ${what}`; } }
"""

SIEVE = """
let limit = 1000;
let mask = [];
mask.pad(limit + 1, true);
mask[0] = false;
mask[1] = false;
let count = 0;
for p in 2..=limit {
    if !mask[p] { continue; }
    count += 1;
    for i in range(p * p, limit + 1, p) { mask[i] = false; }
}
check(count == 168, "168 primes below 1000");
check(mask[997] && !mask[999], "997 is prime, 999 is not");
count
"""

BANK = """
fn new_account(owner, balance) {
    #{
        owner: owner,
        balance: balance,
        history: [],
        deposit: |amount| {
            if amount <= 0 { throw "invalid amount"; }
            this.balance += amount;
            this.history.push(`+${amount}`);
        },
        withdraw: |amount| {
            if amount > this.balance { throw `insufficient funds for ${this.owner}`; }
            this.balance -= amount;
            this.history.push(`-${amount}`);
        }
    }
}
let acc = new_account("ann", 100);
acc.deposit(50);
acc.withdraw(30);
let failed = try { acc.withdraw(1000); false } catch (e) { e.contains("insufficient") };
check(failed, "overdraft refused");
check(acc.balance == 120, "balance");
check(acc.history == ["+50", "-30"], "history");
let copy = acc;
copy.deposit(1);
check(acc.balance == 120 && copy.balance == 121, "maps are values");
acc.balance
"""

WORDS = """
let text = "the quick brown fox jumps over the lazy dog the end";
let counts = #{};
for w in text.split(" ") {
    counts[w] = (counts[w] ?? 0) + 1;
}
check(counts.the == 3, "three 'the'");
check(counts.len() == 9, "nine distinct words");
let keys = counts.keys();
check(keys[0] == "brown", "sorted keys");
let longest = "";
for w in keys { if w.len() > longest.len() { longest = w; } }
check(longest == "brown", "first longest word");
let caps = text.split(" ").map(|w| w[0].to_upper() + w.sub_string(1));
check(caps[1] == "Quick", "capitalised");
let joined = caps.reduce(|acc, w| if acc == () { w } else { acc + " " + w });
check(joined.starts_with("The Quick Brown"), "joined");
`${counts.the}:${longest}`
"""

MATRIX = """
fn mat_mul(a, b) {
    let n = a.len();
    let m = b[0].len();
    let k = b.len();
    let c = [];
    for i in 0..n {
        let row = [];
        for j in 0..m {
            let s = 0;
            for x in 0..k { s += a[i][x] * b[x][j]; }
            row.push(s);
        }
        c.push(row);
    }
    c
}
fn identity(n) {
    let m = [];
    for i in 0..n { let r = []; r.pad(n, 0); r[i] = 1; m.push(r); }
    m
}
let a = [[1, 2], [3, 4]];
let b = [[5, 6], [7, 8]];
check(mat_mul(a, b) == [[19, 22], [43, 50]], "product");
check(mat_mul(a, identity(2)) == a, "identity");
let p = a;
for i in 0..5 { p = mat_mul(p, a); }
p[1][1]
"""

SORTING = """
fn quick_sort(arr) {
    if arr.len() <= 1 { return arr; }
    let pivot = arr[0];
    let rest = arr.extract(1);
    let left = rest.filter(|x| x < pivot);
    let right = rest.filter(|x| x >= pivot);
    quick_sort(left) + [pivot] + quick_sort(right)
}
fn bubble_sort(arr) {
    let n = arr.len();
    loop {
        let swapped = false;
        for i in 1..n {
            if arr[i - 1] > arr[i] {
                let t = arr[i - 1];
                arr[i - 1] = arr[i];
                arr[i] = t;
                swapped = true;
            }
        }
        if !swapped { break; }
    }
    arr
}
let data = [5, 3, 9, 1, 5, 0, -2, 8];
let expected = data.order();
check(quick_sort(data) == expected, "quick sort");
check(bubble_sort(data) == expected, "bubble sort");
check(data[0] == 5, "input untouched");
let by_len = ["ccc", "a", "bb"];
by_len.sort(|x, y| x.len() - y.len());
check(by_len == ["a", "bb", "ccc"], "sort by length");
expected
"""

STATE_MACHINE = """
fn step(state, ch) {
    switch state {
        "start" if ch == '-' => "sign",
        "start" | "sign" | "int" if ch.is_digit => "int",
        "int" if ch == '.' => "dot",
        "dot" | "frac" if ch.is_digit => "frac",
        _ => "error"
    }
}
fn accepts(text) {
    let state = "start";
    for c in text { state = step(state, c); if state == "error" { return false; } }
    state == "int" || state == "frac"
}
let good = ["1", "-12", "3.14", "-0.5"];
let bad = ["", "-", "1.", "1.2.3", "abc", "--1"];
check(good.all(|s| accepts(s)), "accepts numbers");
check(!bad.some(|s| accepts(s)), "rejects garbage");
good.len() + bad.len()
"""

MEMO = """
let cache = #{};
fn fib_memo(n, cache) {
    let key = n.to_string();
    if key in cache { return cache[key]; }
    let v = if n < 2 { n } else { fib_memo(n - 1, cache) + fib_memo(n - 2, cache) };
    v
}
fn fib_iter(n) {
    let a = 0; let b = 1;
    for i in 0..n { let t = a + b; a = b; b = t; }
    a
}
check(fib_iter(90) == 2880067194370816120, "fib(90)");
check(fib_memo(15, cache) == 610, "fib(15)");
let overflowed = try { fib_iter(93); false } catch { true };
check(overflowed, "fib(93) overflows i64");
fib_iter(50)
"""

CLOSURES = """
fn make_counter(start, step) {
    let value = start;
    #{ next: || { value += step; value }, peek: || value }
}
let c = make_counter(10, 5);
c.next.call();
c.next.call();
check(c.peek.call() == 20, "shared captured value");
let adders = [];
for n in [1, 2, 3] { let k = n * 10; adders.push(|x| x + k); }
check(adders.map(|f| f.call(1)) == [11, 21, 31], "per-iteration captures");
let pipeline = [|x| x + 1, |x| x * 2, |x| x - 3];
let result = pipeline.reduce(|acc, f| f.call(acc), 5);
check(result == 9, "pipeline");
let compose = |f, g| |x| g.call(f.call(x));
let inc_then_double = compose.call(|x| x + 1, |x| x * 2);
inc_then_double.call(4)
"""

ALL = [
    ("sieve", SIEVE, 168),
    ("bank", BANK, 120),
    ("words", WORDS, "3:brown"),
    ("matrix", MATRIX, 18298),
    ("sorting", SORTING, [-2, 0, 1, 3, 5, 5, 8, 9]),
    ("state machine", STATE_MACHINE, 10),
    ("memo", MEMO, 12586269025),
    ("closures", CLOSURES, 10),
]


@pytest.mark.parametrize(("name", "source", "expected"), ALL, ids=[a[0] for a in ALL])
def test_script(name: str, source: str, expected: object) -> None:
    assert Engine(max_operations=5_000_000).eval(PRELUDE + source) == expected


def test_check_helper_reports_failures() -> None:
    from horus.rhai import RhaiThrow

    with pytest.raises(RhaiThrow, match="check failed: nope"):
        Engine().eval(PRELUDE + 'check(1 == 2, "nope");')
