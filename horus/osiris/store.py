"""The Osiris document store: collections of JSON documents in Redis with secondary indexes.

Every write that touches more than one key is one Lua script (``horus/lua/osiris_*.lua``), so a
document and its index and unique entries always change together, and concurrent writers cannot
both take a unique value. Reads of several documents are scripts too, so a page is one snapshot.

The store talks to Redis through Horus's own connections (:func:`horus.connect.connect`, one per
thread) and runs its scripts through :mod:`horus.scripts`, like the rest of Horus: a single Redis
and a ``redis+sentinel://`` group work alike.
"""

from __future__ import annotations

import functools
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from horus import scripts
from horus.broker import Broker
from horus.connect import connect, target_of
from horus.keys import DEFAULT_NAMESPACE, Keys
from horus.osiris.errors import DocumentExists, DocumentNotFound, InvalidInput, NotIndexed, UniqueViolation
from horus.osiris.schema import DEFAULT_LIMIT, Page, Schema
from horus.osiris.values import (
    CREATED_AT,
    ID,
    TIMESTAMPS,
    UPDATED_AT,
    check_collection,
    check_field,
    check_id,
    decode,
    encode,
)
from horus.resp import Arg, ThreadLocalConnections

if TYPE_CHECKING:
    import redis

Document = dict[str, Any]
Documents = list[Document]


class _Connection(Protocol):
    """What the store needs of a connection (:class:`horus.resp.Connection` has it)."""

    def call(self, *args: Arg) -> Any: ...

    def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]: ...


#: The calling thread's connection.
_Connections = Callable[[], _Connection]

_REDIS_PY_DEPRECATED = (
    "passing a redis.Redis client to horus.osiris is deprecated: pass the Redis URL (any form Horus "
    "takes, redis+sentinel:// included) or a horus.broker.Broker to share its connections"
)


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _pairs(flat: Sequence[Any]) -> dict[Any, Any]:
    """A hash from a flat ``HGETALL`` reply."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _redis_py(client: redis.Redis) -> _Connections:
    warnings.warn(_REDIS_PY_DEPRECATED, DeprecationWarning, stacklevel=3)
    from horus.osiris.redis_py import RedisPyConnection  # redis-py is imported only for this

    adapter = RedisPyConnection(client)
    return lambda: adapter


class Collection:
    """One collection of a :class:`Store`; get it with ``store.model(name)``."""

    def __init__(self, client: _Connections | redis.Redis, keys: Keys, name: str) -> None:
        self.name = check_collection(name)
        self._conn: _Connections = client if callable(client) else _redis_py(client)
        self._keys = keys
        self._prefix = keys.osiris_prefix(name)

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, namespace={self._keys.namespace!r})"

    def _call(self, script: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        return scripts.call(self._conn(), script, keys, [self._prefix, *args])

    def _unique(self, reply: Sequence[Any]) -> UniqueViolation:
        return UniqueViolation(self.name, _text(reply[1]), _text(reply[2]), _text(reply[3]))

    def _doc_key(self, doc_id: str) -> str:
        return self._keys.osiris_doc(self.name, doc_id)

    def _mapping(self, where: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise InvalidInput(f"{self.name}.{where}: expected a map of fields, not {type(value).__name__}")
        return value

    # -- schema ----------------------------------------------------------------------
    def define(self, index: Iterable[str] = (), unique: Iterable[str] = ()) -> Schema:
        """Declare the indexed and unique fields (the whole set: fields left out lose their index).

        Indexes are built for the documents already stored; if two of them share a value of a field
        that becomes unique, :class:`UniqueViolation` is raised and the schema stays as it was.
        """
        schema = Schema.build(self.name, index, unique)
        pairs = [item for field, kind in schema.kinds().items() for item in (field, kind)]
        reply = self._call(
            "osiris_define", [self._keys.osiris_schema(self.name), self._keys.osiris_ids(self.name)], pairs
        )
        if _text(reply[0]) == "unique":
            raise self._unique(reply)
        return schema

    def schema(self) -> Schema:
        kinds = _pairs(self._conn().call("HGETALL", self._keys.osiris_schema(self.name)))
        return Schema.from_kinds({_text(f): _text(k) for f, k in kinds.items()})

    # -- one document ----------------------------------------------------------------
    def create(self, doc: Mapping[str, Any]) -> Document:
        """Store a new document and return it with ``id``, ``created_at`` and ``updated_at``.

        ``id`` may be given; otherwise a random one is made. Timestamps given are ignored and
        fields set to ``None`` are left out.
        """
        doc = self._mapping("create", doc)
        given = doc.get(ID)
        doc_id = uuid.uuid4().hex if given is None else check_id(self.name, given)
        encoded = {ID: encode(self.name, ID, doc_id)}
        for field, value in doc.items():
            check_field(self.name, field)
            if field not in (ID, *TIMESTAMPS) and value is not None:
                encoded[field] = encode(self.name, field, value)
        keys = self._keys
        reply = self._call(
            "osiris_create",
            [
                keys.osiris_schema(self.name),
                keys.osiris_seq(self.name),
                keys.osiris_ids(self.name),
                self._doc_key(doc_id),
            ],
            [doc_id, *(item for pair in encoded.items() for item in pair)],
        )
        status = _text(reply[0])
        if status == "exists":
            raise DocumentExists(self.name, doc_id)
        if status == "unique":
            raise self._unique(reply)
        now = int(reply[1])
        stored = decode([item for pair in encoded.items() for item in pair])
        return {**stored, CREATED_AT: now, UPDATED_AT: now}

    def get(self, doc_id: str) -> Document | None:
        """The document, or ``None`` when there is none with that id."""
        flat = self._conn().call("HGETALL", self._doc_key(check_id(self.name, doc_id)))
        return decode(flat) if flat else None

    def update(self, doc_id: str, changes: Mapping[str, Any]) -> Document:
        """Merge ``changes`` into the document's top-level fields and return the whole document.

        A field set to ``None`` is removed. ``created_at``/``updated_at`` in ``changes`` are ignored
        (so a document read, changed and passed back works); ``id`` may only repeat the document's id.
        Raises :class:`DocumentNotFound`, or :class:`UniqueViolation` having written nothing.
        """
        check_id(self.name, doc_id)
        changes = self._mapping("update", changes)
        if ID in changes and changes[ID] != doc_id:
            raise InvalidInput(
                f"{self.name}.update: the id of a document cannot change ({doc_id!r} to {changes[ID]!r})"
            )
        sets: list[str] = []
        removes: list[str] = []
        for field, value in changes.items():
            if field in (ID, *TIMESTAMPS):
                continue
            if value is None:
                encode(self.name, field, value)  # checks the field name
                removes.append(field)
            else:
                sets += [field, encode(self.name, field, value)]
        reply = self._call(
            "osiris_update",
            [self._keys.osiris_schema(self.name), self._doc_key(doc_id)],
            [doc_id, len(sets) // 2, *sets, *removes],
        )
        status = _text(reply[0])
        if status == "missing":
            raise DocumentNotFound(self.name, doc_id)
        if status == "unique":
            raise self._unique(reply)
        return decode(reply[1])

    def delete(self, doc_id: str) -> bool:
        """Remove the document and its index entries; ``False`` when there was none."""
        keys = self._keys
        doc_key = self._doc_key(check_id(self.name, doc_id))
        reply = self._call(
            "osiris_delete", [keys.osiris_schema(self.name), keys.osiris_ids(self.name), doc_key], [doc_id]
        )
        return bool(reply)

    # -- many documents --------------------------------------------------------------
    def list(self, limit: int = DEFAULT_LIMIT, offset: int = 0) -> Documents:
        """Documents in creation order, ``limit`` (at most 1000) from ``offset``."""
        page = Page.build(f"{self.name}.list", limit, offset)
        reply = self._call("osiris_list", [self._keys.osiris_ids(self.name)], [page.offset, page.limit])
        return [decode(flat) for flat in reply[1:]]

    def _find(self, where: Mapping[str, Any], page: Page) -> tuple[int, Documents]:
        where = self._mapping("find", where)
        if not where:
            raise InvalidInput(f"{self.name}.find: give at least one field to match (list() returns every document)")
        pairs: list[str] = []
        for field, value in where.items():
            if field in (ID, *TIMESTAMPS):
                raise InvalidInput(f"{self.name}.find: {field!r} has no index (use get(id) to read by id)")
            if value is None:
                raise InvalidInput(f"{self.name}.find: {field!r} needs a value (missing fields are not indexed)")
            pairs += [field, encode(self.name, field, value)]
        reply = self._call(
            "osiris_find",
            [self._keys.osiris_schema(self.name), self._keys.osiris_ids(self.name)],
            [page.offset, page.limit, *pairs],
        )
        if _text(reply[0]) == "unindexed":
            raise NotIndexed(self.name, _text(reply[1]))
        return int(reply[1]), [decode(flat) for flat in reply[2:]]

    def find(self, where: Mapping[str, Any], limit: int = DEFAULT_LIMIT, offset: int = 0) -> Documents:
        """Documents whose fields equal every value in ``where``, in creation order.

        Every field in ``where`` must be indexed (:meth:`define`); otherwise :class:`NotIndexed`.
        Values match exactly, type included.
        """
        return self._find(where, Page.build(f"{self.name}.find", limit, offset))[1]

    def count(self, where: Mapping[str, Any] | None = None) -> int:
        """How many documents, or how many match ``where`` (indexed fields, as in :meth:`find`)."""
        if where is None:
            return int(self._conn().call("ZCARD", self._keys.osiris_ids(self.name)))
        return self._find(where, Page(limit=0))[0]


class Store:
    """Osiris collections under one namespace: ``Store(url_or_broker, namespace=...).model("users")``.

    Given a URL (one Redis, or a ``redis+sentinel://`` group), the store opens a connection per
    thread on first use and :meth:`close` closes them. A :class:`horus.broker.Broker` passed in
    lends its connections and stays the caller's; ``namespace`` then defaults to the broker's.
    A ``redis.Redis`` client still works, deprecated (a :class:`DeprecationWarning`), and stays the
    caller's.
    """

    def __init__(self, client: str | Broker | redis.Redis, namespace: str | None = None) -> None:
        self._owned: ThreadLocalConnections | None = None
        if isinstance(client, str):
            self._owned = ThreadLocalConnections(functools.partial(connect, target_of(client)))
            self._conn: _Connections = self._owned.get
        elif isinstance(client, Broker):
            broker = client
            self._conn = lambda: broker.conn
            namespace = client.keys.namespace if namespace is None else namespace
        else:
            self._conn = _redis_py(client)
        self.namespace = DEFAULT_NAMESPACE if namespace is None else namespace
        self._keys = Keys(self.namespace)

    def model(self, name: str) -> Collection:
        return Collection(self._conn, self._keys, name)

    def define(self, name: str, index: Iterable[str] = (), unique: Iterable[str] = ()) -> Schema:
        """Declare a collection's indexed and unique fields; see :meth:`Collection.define`."""
        return self.model(name).define(index, unique)

    def close(self) -> None:
        """Close the connections the store opened (none when it was given a broker or client)."""
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()
