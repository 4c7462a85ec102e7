"""What the Osiris store raises. Every error names the collection and what was wrong."""

from __future__ import annotations

from horus.errors import HorusError


class OsirisError(HorusError):
    """Root of the Osiris store's errors."""


class InvalidInput(OsirisError, ValueError):
    """A name, value or option the store cannot accept; nothing was written."""


class UniqueViolation(OsirisError):
    """A write would give a unique field a value another document already holds; nothing was written."""

    def __init__(self, collection: str, field: str, value_json: str, owner: str) -> None:
        super().__init__(
            f"{collection}: {field} {value_json} is already used by document {owner!r} "
            f"({field!r} is unique; nothing was written)"
        )
        self.collection = collection
        self.field = field
        self.value_json = value_json
        self.owner = owner


class DocumentNotFound(OsirisError):
    """No document with that id in the collection."""

    def __init__(self, collection: str, doc_id: str) -> None:
        super().__init__(f"{collection}: no document with id {doc_id!r}")
        self.collection = collection
        self.doc_id = doc_id


class DocumentExists(OsirisError):
    """``create`` was given an id that a document of the collection already has."""

    def __init__(self, collection: str, doc_id: str) -> None:
        super().__init__(f"{collection}: a document with id {doc_id!r} already exists (nothing was written)")
        self.collection = collection
        self.doc_id = doc_id


class NotIndexed(OsirisError):
    """``find`` was asked about a field that has no index."""

    def __init__(self, collection: str, field: str) -> None:
        super().__init__(
            f"{collection}: cannot find by {field!r}, the field has no index; declare it first with "
            f'osiris.define("{collection}", #{{index: ["{field}"]}}) '
            f'(Python: store.define("{collection}", index=["{field}"]))'
        )
        self.collection = collection
        self.field = field
