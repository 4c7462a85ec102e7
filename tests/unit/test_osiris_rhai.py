"""Rhai scripts using ``osiris`` through the osiris runner in this process, on a real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from horus.workers.osiris import OsirisRunner

from horus.keys import Keys
from horus.models import Job, JobStatus
from horus.osiris import Store
from horus.plugin import Outcome
from horus.worker.context import JobContext
from tests.osiris_check import assert_consistent

NS = "osiris-rhai"
SEED_EXAMPLE = """let users = osiris.model("users");
let user = users.create(#{
    name: "Alice",
    email: "alice@example.com"
});
"""

Run = Callable[[str], Outcome]


@pytest.fixture
def run(r: redis.Redis, redis_url: str) -> Iterator[Run]:
    runner = OsirisRunner()
    runner.setup()

    def run(script: str) -> Outcome:
        job = Job(runner_id="osiris1", payload=script, timeout=10)
        ctx = JobContext(
            job, "osiris1", "test", time.monotonic() + 10, lambda _line: None, redis_url=redis_url, namespace=NS
        )
        return runner.execute(job, ctx)

    yield run
    runner.teardown()


@pytest.fixture
def store(redis_url: str) -> Iterator[Store]:
    with Store(redis_url, namespace=NS) as store:
        yield store


def value(outcome: Outcome) -> object:
    assert outcome.status == JobStatus.COMPLETED, outcome.error
    return outcome.value


def test_the_seed_example_runs_unchanged(run: Run, store: Store) -> None:
    assert value(run(SEED_EXAMPLE)) is None
    (alice,) = store.model("users").list()
    assert (alice["name"], alice["email"]) == ("Alice", "alice@example.com")


def test_create_returns_the_document(run: Run) -> None:
    doc = value(run('osiris.model("users").create(#{name: "Alice", age: 30, tags: ["a"], score: 1.5, ok: true})'))
    assert isinstance(doc, dict)
    assert {k: doc[k] for k in ("name", "age", "tags", "score", "ok")} == {
        "name": "Alice",
        "age": 30,
        "tags": ["a"],
        "score": 1.5,
        "ok": True,
    }
    assert len(doc["id"]) == 32 and doc["created_at"] == doc["updated_at"] > 0


def test_get_update_delete(run: Run) -> None:
    script = """
        let users = osiris.model("users");
        let u = users.create(#{name: "Alice", age: 30});
        let got = users.get(u.id);
        let missing = users.get("nope");
        let changed = users.update(u.id, #{age: 31, city: "Ghent", name: ()});
        let first = users.delete(u.id);
        let second = users.delete(u.id);
        #{same: got == u, missing: missing == (), changed: changed, first: first, second: second,
          after: users.get(u.id)}
    """
    result = value(run(script))
    assert isinstance(result, dict)
    assert result["same"] is True and result["missing"] is True
    assert {k: result["changed"][k] for k in ("age", "city")} == {"age": 31, "city": "Ghent"}
    assert "name" not in result["changed"]
    assert (result["first"], result["second"], result["after"]) == (True, False, None)


def test_a_document_read_changed_and_passed_back(run: Run) -> None:
    script = """
        let users = osiris.model("users");
        let u = users.create(#{name: "Alice"});
        u.name = "Alicia";
        users.update(u.id, u).name
    """
    assert value(run(script)) == "Alicia"


def test_list_find_count(run: Run) -> None:
    script = """
        osiris.define("users", #{index: ["city"], unique: ["email"]});
        let users = osiris.model("users");
        for i in 0..5 {
            users.create(#{email: `u${i}@x`, city: if i % 2 == 0 { "Ghent" } else { "Leuven" }, n: i});
        }
        #{
            all: users.list().map(|u| u.n),
            page: users.list(#{limit: 2, offset: 1}).map(|u| u.n),
            ghent: users.find(#{city: "Ghent"}).map(|u| u.n),
            ghent_page: users.find(#{city: "Ghent"}, #{limit: 1, offset: 1}).map(|u| u.n),
            by_email: users.find(#{email: "u3@x"}).map(|u| u.n),
            both: users.find(#{email: "u3@x", city: "Ghent"}).len(),
            count: users.count(),
            count_leuven: users.count(#{city: "Leuven"}),
        }
    """
    assert value(run(script)) == {
        "all": [0, 1, 2, 3, 4],
        "page": [1, 2],
        "ghent": [0, 2, 4],
        "ghent_page": [2],
        "by_email": [3],
        "both": 0,
        "count": 5,
        "count_leuven": 2,
    }


def test_define_returns_the_schema(run: Run) -> None:
    script = """
        let s = osiris.define("users", #{index: ["email", "age"], unique: ["email"]});
        [s, osiris.model("users").schema(), type_of(osiris.model("users"))]
    """
    schema = {"index": ["age"], "unique": ["email"]}
    assert value(run(script)) == [schema, schema, "Collection"]


def test_a_collection_passes_to_functions(run: Run) -> None:
    script = """
        fn add(c, name) { c.create(#{name: name}) }
        let pets = osiris.model("pets");
        add(pets, "Rex");
        add(pets, "Tom");
        pets.count()
    """
    assert value(run(script)) == 2


def test_a_unique_violation_fails_the_job_with_its_position(run: Run, r: redis.Redis) -> None:
    script = """osiris.define("users", #{unique: ["email"]});
let users = osiris.model("users");
users.create(#{email: "a@x"});
users.create(#{email: "a@x", name: "second"});
"""
    outcome = run(script)
    assert outcome.status == JobStatus.FAILED
    assert outcome.error is not None
    assert 'users: email "a@x" is already used by document' in outcome.error
    assert "(line 4, position" in outcome.error
    assert value(run('osiris.model("users").count()')) == 1
    assert_consistent(r, Keys(NS), "users")


def test_scripts_can_catch_store_errors(run: Run) -> None:
    script = """
        osiris.define("users", #{unique: ["email"]});
        let users = osiris.model("users");
        users.create(#{email: "a@x"});
        try { users.create(#{email: "a@x"}); "created" } catch (e) { e.message }
    """
    message = value(run(script))
    assert isinstance(message, str) and "already used" in message


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            'osiris.model("users").find(#{name: "x"})',
            'declare it first with osiris.define("users", #{index: ["name"]})',
        ),
        ('osiris.model("users").list(#{limt: 5})', "unknown option 'limt' (known: limit, offset)"),
        ('osiris.model("users").list(#{limit: 5000})', "limit must be an integer from 0 to 1000"),
        ('osiris.model("users").list(5)', "options must be a map"),
        ('osiris.define("users", #{indexes: ["a"]})', "unknown key 'indexes' (known: index, unique)"),
        ('osiris.define("users", ["a"])', "the spec must be a map"),
        ('osiris.model("a b")', "collection name 'a b' is not valid"),
        ('osiris.model("users").create(#{at: timestamp()})', "at has type Timestamp, which cannot be stored"),
        ('osiris.model("users").create(42)', "expected a map of fields"),
        ('osiris.model("users").update("nope", #{a: 1})', "users: no document with id 'nope'"),
        ('osiris.model("users").get(1)', "document id 1 is not valid"),
    ],
)
def test_errors_name_what_is_wrong(run: Run, script: str, message: str) -> None:
    outcome = run(script)
    assert outcome.status == JobStatus.FAILED
    assert message in (outcome.error or "")
    assert "(line 1, position" in (outcome.error or "")


def test_prints_and_the_store_share_a_job(run: Run) -> None:
    outcome = run('let u = osiris.model("users").create(#{name: "A"}); print(`created ${u.name}`); u.name')
    assert (outcome.output, outcome.value) == ("created A", "A")


def test_the_example_in_the_docs_runs(run: Run) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "osiris.md").read_text()
    example = docs.split("```rhai\n")[2].split("```")[0]
    assert "users.create" in example
    outcome = run(example)
    assert outcome.status == JobStatus.COMPLETED, outcome.error
    assert "is already used by document" in outcome.output


@pytest.mark.parametrize(
    "script",
    [
        'osiris.model("users").create(#{"__proto__": 1})',
        'osiris.model("users").create(#{"a\\0b": 1})',
        'osiris.model("users").create(#{"new\\nline": 1})',
        'let u = osiris.model("users").create(#{name: "A"}); osiris.model("users").update(u.id, #{"__proto__": ()})',
        'osiris.model("users").find(#{"__proto__": 1})',
    ],
)
def test_bad_field_names_fail_the_job_naming_the_rule(run: Run, r: redis.Redis, script: str) -> None:
    outcome = run(script)
    assert outcome.status == JobStatus.FAILED
    assert "users: field name " in (outcome.error or "")
    assert "is not valid: 1-64 of letters, digits and '_', starting with a letter or '_', not with '__'" in (
        outcome.error or ""
    )
    docs = [key for key in r.keys(f"{NS}:osiris:*:doc:*")]
    assert not any(field.startswith("__") or "\x00" in field or "\n" in field for d in docs for field in r.hkeys(d))


def test_a_dunder_collection_name_is_refused(run: Run) -> None:
    outcome = run('osiris.model("__proto__").create(#{a: 1})')
    assert "collection name '__proto__' is not valid" in (outcome.error or "")
