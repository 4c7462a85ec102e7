"""The Osiris store's Python API against a real Redis (its Lua scripts need one)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from horus import scripts
from horus.broker import Broker
from horus.keys import Keys
from horus.osiris import (
    Collection,
    DocumentExists,
    DocumentNotFound,
    InvalidInput,
    NotIndexed,
    Schema,
    Store,
    UniqueViolation,
)
from tests.osiris_check import assert_consistent, stored_ids

NS = "osiris-test"
KEYS = Keys(NS)


@pytest.fixture
def store(r: redis.Redis, redis_url: str) -> Iterator[Store]:
    with Store(redis_url, namespace=NS) as store:
        yield store


@pytest.fixture
def users(store: Store) -> Collection:
    store.define("users", index=["age", "city"], unique=["email"])
    return store.model("users")


def ids(docs: list[dict[str, object]]) -> list[object]:
    return [doc["id"] for doc in docs]


# -- create ----------------------------------------------------------------------------
def test_create_returns_the_stored_document(users: Collection, r: redis.Redis) -> None:
    before = int(r.time()[0])
    doc = users.create({"name": "Alice", "email": "alice@example.com", "tags": ("a", "b"), "meta": {"x": 1.5}})
    assert len(doc["id"]) == 32 and int(doc["id"], 16) >= 0
    assert doc["created_at"] == doc["updated_at"]
    assert before <= doc["created_at"] <= int(r.time()[0])
    assert doc == {
        "id": doc["id"],
        "name": "Alice",
        "email": "alice@example.com",
        "tags": ["a", "b"],
        "meta": {"x": 1.5},
        "created_at": doc["created_at"],
        "updated_at": doc["updated_at"],
    }
    assert users.get(doc["id"]) == doc
    assert_consistent(r, KEYS, "users")


def test_create_with_an_id_of_the_callers_choice(users: Collection) -> None:
    doc = users.create({"id": "alice", "name": "Alice"})
    assert doc["id"] == "alice"
    with pytest.raises(DocumentExists, match="'alice' already exists"):
        users.create({"id": "alice", "name": "Other"})
    assert users.get("alice") == doc


def test_create_ignores_timestamps_and_drops_unit_fields(users: Collection, r: redis.Redis) -> None:
    doc = users.create({"name": "A", "gone": None, "created_at": 1, "updated_at": 2})
    assert "gone" not in doc and doc["created_at"] > 2
    assert users.get(doc["id"]) == doc


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "JSON has no NaN"),
        (2**63, "64-bit integer"),
        ({1: "x"}, "not a string"),
        ([object()], r"doc\[0\] has type object"),
        ({"inner": {1, 2}}, "doc.inner has type set"),
    ],
)
def test_create_refuses_values_json_cannot_hold(users: Collection, r: redis.Redis, value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        users.create({"name": "A", "doc": value})
    assert users.count() == 0 and stored_ids(r, KEYS, "users") == set()


@pytest.mark.parametrize("name", ["", "has space", "{tag}", "a:b", "9lives", "x" * 65, 3])
def test_collection_names_are_checked(store: Store, name: object) -> None:
    with pytest.raises(InvalidInput, match="collection name"):
        store.model(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("doc_id", ["", "-x", "a b", "x" * 129, 7])
def test_ids_are_checked(users: Collection, doc_id: object) -> None:
    with pytest.raises(InvalidInput, match="document id"):
        users.create({"id": doc_id})
    with pytest.raises(InvalidInput, match="document id"):
        users.get(doc_id)  # type: ignore[arg-type]


def test_create_refuses_a_taken_unique_value_and_writes_nothing(users: Collection, r: redis.Redis) -> None:
    alice = users.create({"email": "alice@example.com", "age": 30})
    with pytest.raises(UniqueViolation) as caught:
        users.create({"email": "alice@example.com", "age": 40, "city": "Ghent"})
    err = caught.value
    assert (err.collection, err.field, err.value_json, err.owner) == (
        "users",
        "email",
        '"alice@example.com"',
        alice["id"],
    )
    assert "nothing was written" in str(err)
    assert users.count() == 1 and users.find({"age": 40}) == [] and users.find({"city": "Ghent"}) == []
    assert_consistent(r, KEYS, "users")


# -- get, update, delete -------------------------------------------------------------------
def test_get_a_missing_document_is_none(users: Collection) -> None:
    assert users.get("nope") is None


def test_update_merges_top_level_fields(users: Collection, r: redis.Redis) -> None:
    doc = users.create({"name": "Alice", "age": 30, "meta": {"a": 1, "b": 2}, "note": "x"})
    updated = users.update(doc["id"], {"age": 31, "meta": {"a": 9}, "note": None, "city": "Ghent"})
    assert updated == {
        "id": doc["id"],
        "name": "Alice",
        "age": 31,
        "meta": {"a": 9},
        "city": "Ghent",
        "created_at": doc["created_at"],
        "updated_at": updated["updated_at"],
    }
    assert updated["updated_at"] >= doc["updated_at"]
    assert users.get(doc["id"]) == updated
    assert ids(users.find({"age": 31})) == [doc["id"]] and users.find({"age": 30}) == []
    assert ids(users.find({"city": "Ghent"})) == [doc["id"]]
    assert_consistent(r, KEYS, "users")


def test_a_document_read_changed_and_passed_back_updates(users: Collection) -> None:
    doc = users.create({"name": "Alice"})
    doc["name"] = "Alicia"
    assert users.update(doc["id"], doc)["name"] == "Alicia"


def test_update_refuses_to_change_the_id(users: Collection) -> None:
    doc = users.create({"name": "Alice"})
    with pytest.raises(InvalidInput, match="id of a document cannot change"):
        users.update(doc["id"], {"id": "other"})


def test_update_of_a_missing_document(users: Collection, r: redis.Redis) -> None:
    with pytest.raises(DocumentNotFound, match="users: no document with id 'ghost'"):
        users.update("ghost", {"name": "x"})
    assert stored_ids(r, KEYS, "users") == set()


def test_update_moves_a_unique_value(users: Collection, r: redis.Redis) -> None:
    alice = users.create({"email": "alice@example.com"})
    users.update(alice["id"], {"email": "alice@new.example"})
    assert ids(users.find({"email": "alice@new.example"})) == [alice["id"]]
    assert users.find({"email": "alice@example.com"}) == []
    bob = users.create({"email": "alice@example.com"})  # the old value is free again
    assert ids(users.find({"email": "alice@example.com"})) == [bob["id"]]
    assert users.update(bob["id"], {"email": "alice@example.com", "age": 5})["age"] == 5  # its own value
    assert_consistent(r, KEYS, "users")


def test_update_to_a_taken_unique_value_writes_nothing(users: Collection, r: redis.Redis) -> None:
    alice = users.create({"email": "alice@example.com", "age": 30})
    bob = users.create({"email": "bob@example.com", "age": 40})
    with pytest.raises(UniqueViolation, match="already used by document"):
        users.update(bob["id"], {"age": 41, "email": "alice@example.com"})
    assert users.get(bob["id"]) == bob
    assert ids(users.find({"email": "alice@example.com"})) == [alice["id"]]
    assert ids(users.find({"age": 40})) == [bob["id"]]
    assert_consistent(r, KEYS, "users")


def test_removing_a_unique_field_frees_its_value(users: Collection, r: redis.Redis) -> None:
    alice = users.create({"email": "alice@example.com"})
    users.update(alice["id"], {"email": None})
    assert users.create({"email": "alice@example.com"})
    assert_consistent(r, KEYS, "users")


def test_delete_removes_the_document_and_its_index_entries(users: Collection, r: redis.Redis) -> None:
    alice = users.create({"email": "alice@example.com", "age": 30, "city": "Ghent"})
    bob = users.create({"email": "bob@example.com", "age": 30})
    assert users.delete(alice["id"]) is True
    assert users.delete(alice["id"]) is False
    assert users.get(alice["id"]) is None
    assert ids(users.find({"age": 30})) == [bob["id"]]
    assert users.find({"city": "Ghent"}) == []
    assert users.count() == 1
    assert users.create({"email": "alice@example.com"})
    assert_consistent(r, KEYS, "users")


# -- list, find, count ----------------------------------------------------------------------
def test_list_pages_in_creation_order(users: Collection) -> None:
    made = [users.create({"n": i})["id"] for i in range(7)]
    assert ids(users.list()) == made
    assert ids(users.list(limit=3)) == made[:3]
    assert ids(users.list(limit=3, offset=5)) == made[5:]
    assert users.list(limit=0) == [] and users.list(offset=99) == []
    users.delete(made[1])
    assert ids(users.list(limit=2)) == [made[0], made[2]]


@pytest.mark.parametrize(("limit", "offset"), [(-1, 0), (1001, 0), ("5", 0), (1.0, 0), (True, 0), (5, -1)])
def test_page_bounds(users: Collection, limit: object, offset: object) -> None:
    with pytest.raises(InvalidInput, match=r"users\.list: (limit must be an integer from 0 to 1000|offset)"):
        users.list(limit, offset)  # type: ignore[arg-type]


def test_find_by_index_and_unique_fields(users: Collection) -> None:
    a = users.create({"email": "a@x", "age": 30, "city": "Ghent"})
    b = users.create({"email": "b@x", "age": 30, "city": "Leuven"})
    c = users.create({"email": "c@x", "age": 31, "city": "Ghent"})
    users.create({"email": "d@x"})
    assert ids(users.find({"age": 30})) == [a["id"], b["id"]]
    assert ids(users.find({"email": "c@x"})) == [c["id"]]
    assert ids(users.find({"city": "Ghent", "age": 30})) == [a["id"]]
    assert ids(users.find({"city": "Ghent", "email": "c@x"})) == [c["id"]]
    assert users.find({"city": "Leuven", "email": "a@x"}) == []
    assert users.find({"age": "30"}) == []  # values match with their type
    assert ids(users.find({"age": 30}, limit=1, offset=1)) == [b["id"]]
    assert users.find({"age": 30})[0] == users.get(a["id"])


def test_find_values_that_share_a_prefix(users: Collection) -> None:
    """Index entries are ``value NUL id``: a value must not match a longer one starting with it."""
    a = users.create({"age": 3})
    users.create({"age": 30})
    users.create({"age": 3.5})
    assert ids(users.find({"age": 3})) == [a["id"]]
    assert users.count({"age": 30}) == 1


def test_find_by_structured_values(users: Collection) -> None:
    a = users.create({"city": {"name": "Ghent", "zip": 9000}})
    assert ids(users.find({"city": {"zip": 9000, "name": "Ghent"}})) == [a["id"]]  # key order does not matter


def test_find_by_a_field_without_index_is_refused(users: Collection) -> None:
    users.create({"name": "Alice"})
    with pytest.raises(NotIndexed, match=r'osiris.define\("users", #\{index: \["name"\]\}\)'):
        users.find({"name": "Alice"})
    with pytest.raises(InvalidInput, match="at least one field"):
        users.find({})
    with pytest.raises(InvalidInput, match="'id' has no index"):
        users.find({"id": "x"})


def test_count(users: Collection) -> None:
    assert users.count() == 0
    for age in (30, 30, 31):
        users.create({"age": age})
    assert users.count() == 3
    assert users.count({"age": 30}) == 2
    assert users.count({"age": 99}) == 0


# -- define -------------------------------------------------------------------------------
def test_define_is_idempotent_and_readable(store: Store) -> None:
    schema = store.define("users", index=["age", "email"], unique=["email"])
    assert schema == Schema(index=("age",), unique=("email",))
    assert store.define("users", index=["age"], unique=["email"]) == schema
    assert store.model("users").schema() == schema
    assert store.model("other").schema() == Schema()


def test_define_builds_indexes_for_existing_documents(store: Store, r: redis.Redis) -> None:
    pets = store.model("pets")
    rex = pets.create({"name": "Rex", "kind": "dog"})
    tom = pets.create({"name": "Tom", "kind": "cat"})
    pets.create({"kind": "dog"})
    store.define("pets", index=["kind"], unique=["name"])
    assert ids(pets.find({"name": "Tom"})) == [tom["id"]]
    assert len(pets.find({"kind": "dog"})) == 2
    assert_consistent(r, KEYS, "pets")
    with pytest.raises(UniqueViolation):
        pets.create({"name": "Rex"})
    store.define("pets", index=["name"])  # name becomes a plain index, kind loses its index
    assert ids(pets.find({"name": "Rex"})) == [rex["id"]]
    with pytest.raises(NotIndexed):
        pets.find({"kind": "dog"})
    assert_consistent(r, KEYS, "pets")


def test_define_unique_over_duplicates_changes_nothing(store: Store, r: redis.Redis) -> None:
    pets = store.model("pets")
    pets.create({"name": "Rex", "kind": "dog"})
    pets.create({"name": "Max", "kind": "dog"})
    store.define("pets", index=["name"])
    with pytest.raises(UniqueViolation, match='kind "dog" is already used'):
        store.define("pets", index=["name"], unique=["kind"])
    assert pets.schema() == Schema(index=("name",))
    assert len(pets.find({"name": "Rex"})) == 1
    assert_consistent(r, KEYS, "pets")


@pytest.mark.parametrize(
    ("index", "unique", "message"),
    [
        (["id"], [], "managed by the store"),
        ([], ["created_at"], "managed by the store"),
        (["a b"], [], "cannot be indexed"),
        ([1], [], "cannot be indexed"),
        ("email", [], "must be a list of field names"),
    ],
)
def test_define_checks_field_names(store: Store, index: object, unique: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        store.define("users", index=index, unique=unique)  # type: ignore[arg-type]


# -- store -----------------------------------------------------------------------------------
def test_namespaces_keep_tenants_apart(r: redis.Redis, redis_url: str) -> None:
    with Store(redis_url, namespace="tenant-a") as a, Store(redis_url, namespace="tenant-b") as b:
        a.define("users", unique=["email"])
        a.model("users").create({"email": "x@y"})
        assert b.model("users").count() == 0
        assert b.model("users").create({"email": "x@y"})  # no unique clash across tenants
    assert all(key.startswith(("tenant-a:osiris:{users}:", "tenant-b:osiris:{users}:")) for key in r.keys("*"))


def test_every_key_is_one_keys_builds(users: Collection, r: redis.Redis) -> None:
    doc = users.create({"email": "a@x", "age": 1, "city": "c"})
    expected = {
        KEYS.osiris_schema("users"),
        KEYS.osiris_seq("users"),
        KEYS.osiris_ids("users"),
        KEYS.osiris_doc("users", doc["id"]),
        KEYS.osiris_unique("users", "email"),
        KEYS.osiris_index("users", "age"),
        KEYS.osiris_index("users", "city"),
    }
    assert set(r.keys("*")) == expected
    assert {key[key.index("{") : key.index("}") + 1] for key in expected} == {"{users}"}


def test_a_broker_lends_its_connections_and_namespace(redis_url: str, r: redis.Redis) -> None:
    broker = Broker.from_url(redis_url, NS)
    try:
        with Store(broker) as store:
            assert store.namespace == NS
            doc = store.model("users").create({"a": 1})
        assert broker.call("PING") == "PONG"  # the broker stays open
        with Store(broker, namespace="other") as other:
            assert other.model("users").get(doc["id"]) is None
    finally:
        broker.close()
    assert r.exists(KEYS.osiris_doc("users", doc["id"]))


@pytest.mark.parametrize("decoded", [True, False])
def test_a_redis_py_client_still_works_deprecated_and_stays_open(redis_url: str, r: redis.Redis, decoded: bool) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=decoded)
    with pytest.warns(DeprecationWarning, match="pass the Redis URL"), Store(client, namespace=NS) as store:
        users = store.model("users")
    r.script_flush()  # its first call meets NOSCRIPT, as after a restart
    users.define(index=["city"], unique=["email"])
    doc = users.create({"email": "a@x", "city": "Ghent", "n": 1})
    assert users.get(doc["id"]) == doc
    assert users.find({"city": "Ghent"}) == [doc] == users.list()
    assert users.count() == 1 == users.count({"city": "Ghent"})
    assert users.schema() == Schema(index=("city",), unique=("email",))
    with pytest.raises(UniqueViolation):
        users.create({"email": "a@x"})
    assert users.update(doc["id"], {"n": 2})["n"] == 2
    assert users.delete(doc["id"]) and users.get(doc["id"]) is None
    assert client.ping()
    client.close()


def test_scripts_are_loaded_again_after_a_flush(store: Store, r: redis.Redis) -> None:
    users = store.model("users")
    users.create({"a": 1})
    r.script_flush()
    assert users.count() == 1 and len(users.list()) == 1
    assert all(r.script_exists(*(scripts.sha(name) for name in scripts.OSIRIS)))


def test_one_store_in_many_threads_uses_a_connection_per_thread(store: Store, r: redis.Redis) -> None:
    users = store.model("users")
    start = threading.Barrier(4)
    made: list[str] = []

    def create() -> None:
        start.wait()
        made.extend(users.create({"n": i})["id"] for i in range(25))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 100 == users.count()


def test_concurrent_creates_of_one_unique_value(store: Store, r: redis.Redis, redis_url: str) -> None:
    store.define("users", unique=["email"])
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def create() -> None:
        with Store(redis_url, namespace=NS) as mine:
            start.wait()
            try:
                mine.model("users").create({"email": "same@example.com"})
                outcomes.append("created")
            except UniqueViolation:
                outcomes.append("refused")

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["refused"] * 7
    assert store.model("users").count() == 1
    assert_consistent(r, KEYS, "users")


# -- field and collection names ----------------------------------------------------------------
BAD_FIELDS = ["__proto__", "__class__", "a\x00b", "line\nbreak", "tab\t", "", "a b", "a.b", "é", "x" * 65]


@pytest.mark.parametrize("field", BAD_FIELDS)
def test_create_update_and_find_refuse_a_bad_field_name(users: Collection, r: redis.Redis, field: str) -> None:
    rule = "1-64 of letters, digits and '_', starting with a letter or '_', not with '__'"
    alice = users.create({"name": "Alice"})
    before = sorted(r.keys(f"{NS}:*"))
    with pytest.raises(InvalidInput, match=r"field name .* is not valid") as err:
        users.create({"name": "Bob", field: 1})
    assert repr(field) in str(err.value) and rule in str(err.value)
    with pytest.raises(InvalidInput, match=r"field name .* is not valid"):
        users.create({field: None})
    with pytest.raises(InvalidInput, match=r"field name .* is not valid"):
        users.update(alice["id"], {field: "x"})
    with pytest.raises(InvalidInput, match=r"field name .* is not valid"):
        users.update(alice["id"], {field: None})
    with pytest.raises(InvalidInput, match=r"not valid|cannot be indexed"):
        users.find({field: 1})
    with pytest.raises(InvalidInput, match="cannot be indexed"):
        users.define(index=[field])
    assert sorted(r.keys(f"{NS}:*")) == before
    assert users.get(alice["id"]) == alice


def test_field_names_that_follow_the_rule_are_kept(users: Collection) -> None:
    doc = users.create({"_private": 1, "a_": 2, "A9": 3, "x" * 64: 4, "_": 5})
    assert {k: doc[k] for k in ("_private", "a_", "A9", "x" * 64, "_")} == {
        "_private": 1,
        "a_": 2,
        "A9": 3,
        "x" * 64: 4,
        "_": 5,
    }


@pytest.mark.parametrize("name", ["__proto__", "a\x00b", "ctl\x01", "", "a b"])
def test_bad_collection_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(InvalidInput, match=r"collection name .* is not valid"):
        store.model(name)
