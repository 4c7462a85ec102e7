"""Read an Osiris collection straight from Redis and check its index entries match its documents."""

from __future__ import annotations

import redis

from horus.keys import Keys


def stored_ids(r: redis.Redis, keys: Keys, collection: str) -> set[str]:
    prefix = keys.osiris_doc(collection, "")
    return {key[len(prefix) :] for key in r.scan_iter(match=prefix.replace("{", "\\{").replace("}", "\\}") + "*")}


def assert_consistent(r: redis.Redis, keys: Keys, collection: str) -> None:
    """Documents, the creation index, and every index and unique entry agree (r decodes responses)."""
    ids = stored_ids(r, keys, collection)
    assert set(r.zrange(keys.osiris_ids(collection), 0, -1)) == ids
    schema = r.hgetall(keys.osiris_schema(collection))
    docs = {doc_id: r.hgetall(keys.osiris_doc(collection, doc_id)) for doc_id in ids}
    for field, kind in schema.items():
        holding = {doc_id: doc[field] for doc_id, doc in docs.items() if field in doc}
        if kind == "unique":
            assert r.hgetall(keys.osiris_unique(collection, field)) == {v: i for i, v in holding.items()}
            assert len(set(holding.values())) == len(holding), f"{field} has duplicate values"
            assert not r.exists(keys.osiris_index(collection, field))
        else:
            members = set(r.zrange(keys.osiris_index(collection, field), 0, -1))
            assert members == {f"{value}\0{doc_id}" for doc_id, value in holding.items()}
            assert not r.exists(keys.osiris_unique(collection, field))
    prefix = keys.osiris_prefix(collection).replace("{", "\\{").replace("}", "\\}")
    for key in r.scan_iter(match=f"{prefix}:*"):
        kind, _, field = key[len(keys.osiris_prefix(collection)) + 1 :].partition(":")
        if kind in ("index", "unique"):
            assert schema.get(field) == kind, f"{key} left over from a field no longer {kind}"
