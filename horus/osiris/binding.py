"""What a Rhai script sees as ``osiris``: ``osiris.model(name)`` and ``osiris.define(name, spec)``.

Scripts pass maps and arrays, and optional arguments as a trailing options map
(``users.list(#{limit: 10})``), so this layer turns those into the Python API's arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from horus.osiris.errors import InvalidInput
from horus.osiris.schema import INDEX, UNIQUE, Page
from horus.osiris.store import Collection, Document, Documents, Store

#: A schema as scripts see it: ``#{index: [...], unique: [...]}``.
SchemaMap = dict[str, list[str]]


def _schema_spec(name: str, spec: Any) -> tuple[Any, Any]:
    if not isinstance(spec, Mapping):
        raise InvalidInput(f'osiris.define("{name}", …): the spec must be a map like #{{index: [...], unique: [...]}}')
    unknown = sorted(set(spec) - {INDEX, UNIQUE})
    if unknown:
        raise InvalidInput(
            f'osiris.define("{name}", …): unknown key {", ".join(map(repr, unknown))} (known: index, unique)'
        )
    return spec.get(INDEX, []), spec.get(UNIQUE, [])


class ScriptCollection:
    """A collection as a script uses it: ``let users = osiris.model("users"); users.create(#{…})``."""

    rhai_type_name: ClassVar[str] = "Collection"

    def __init__(self, collection: Collection) -> None:
        self._collection = collection
        self.name = collection.name

    def __str__(self) -> str:
        return f"Collection({self.name})"

    def create(self, doc: Any) -> Document:
        return self._collection.create(doc)

    def get(self, doc_id: Any) -> Document | None:
        return self._collection.get(doc_id)

    def update(self, doc_id: Any, changes: Any) -> Document:
        return self._collection.update(doc_id, changes)

    def delete(self, doc_id: Any) -> bool:
        return self._collection.delete(doc_id)

    def list(self, options: Any = None) -> Documents:
        page = self._page("list", options)
        return self._collection.list(page.limit, page.offset)

    def find(self, where: Any, options: Any = None) -> Documents:
        page = self._page("find", options)
        return self._collection.find(where, page.limit, page.offset)

    def count(self, where: Any = None) -> int:
        return self._collection.count(where)

    def define(self, spec: Any) -> SchemaMap:
        index, unique = _schema_spec(self.name, spec)
        return self._collection.define(index, unique).as_dict()

    def schema(self) -> SchemaMap:
        return self._collection.schema().as_dict()

    def _page(self, method: str, options: Any) -> Page:
        where = f"{self.name}.{method}"
        if options is None:
            return Page()
        if not isinstance(options, Mapping):
            raise InvalidInput(f"{where}: options must be a map like #{{limit: 10, offset: 0}}")
        return Page.from_options(where, options)


class ScriptOsiris:
    """The ``osiris`` module of a job's script, over the worker's store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def model(self, name: Any) -> ScriptCollection:
        return ScriptCollection(self._store.model(name))

    def define(self, name: Any, spec: Any) -> SchemaMap:
        return self.model(name).define(spec)
