"""Osiris: a structured document store on Redis, for Rhai scripts (``osiris.model``) and Python applications.

from horus.osiris import Store
users = Store("redis://localhost:6379", namespace="horus").model("users")
users.create({"name": "Alice", "email": "alice@example.com"})
"""

from horus.osiris.errors import (
    DocumentExists,
    DocumentNotFound,
    InvalidInput,
    NotIndexed,
    OsirisError,
    UniqueViolation,
)
from horus.osiris.schema import DEFAULT_LIMIT, MAX_LIMIT, Schema
from horus.osiris.store import Collection, Document, Store

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Collection",
    "Document",
    "DocumentExists",
    "DocumentNotFound",
    "InvalidInput",
    "NotIndexed",
    "OsirisError",
    "Schema",
    "Store",
    "UniqueViolation",
]
