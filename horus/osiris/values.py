"""Names and values as the store accepts them, and the JSON form documents are kept in.

Each field of a document is stored as its own canonical JSON text (sorted keys, no spaces,
UTF-8). The same text is the key of index and unique entries, so the Lua scripts compare and
move index entries without ever parsing JSON: a value matches exactly, type included
(``1`` and ``1.0`` differ).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from horus.osiris.errors import InvalidInput

#: Fields the store manages: ``id`` is set at creation, the timestamps on every write.
ID = "id"
CREATED_AT = "created_at"
UPDATED_AT = "updated_at"
TIMESTAMPS = (CREATED_AT, UPDATED_AT)

_COLLECTION = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


#: The rule every field name follows, as errors and docs state it. A dunder name (``__proto__``)
#: is refused because a document read by JavaScript or a template engine would touch the object
#: machinery instead of a plain field; control characters (NUL) would corrupt index entries,
#: whose members are separated by NUL.
FIELD_RULE = "1-64 of letters, digits and '_', starting with a letter or '_', not with '__'"
COLLECTION_RULE = "1-64 of letters, digits, '_', '.', '-', starting with a letter or '_', not with '__'"


def _shown(name: object) -> str:
    return repr(name) if isinstance(name, str) else f"of type {type(name).__name__}"


def check_collection(name: object) -> str:
    if not isinstance(name, str) or not _COLLECTION.fullmatch(name) or name.startswith("__"):
        raise InvalidInput(f"collection name {_shown(name)} is not valid: {COLLECTION_RULE}")
    return name


def check_field(collection: str, name: object) -> str:
    """A document field name (create, update, find, define), refused unless it follows FIELD_RULE."""
    if not isinstance(name, str) or not _FIELD.fullmatch(name) or name.startswith("__"):
        raise InvalidInput(f"{collection}: field name {_shown(name)} is not valid: {FIELD_RULE}")
    return name


def check_indexed_field(collection: str, name: object) -> str:
    if not isinstance(name, str) or not _FIELD.fullmatch(name) or name.startswith("__"):
        raise InvalidInput(f"{collection}: {_shown(name)} cannot be indexed: a field name is {FIELD_RULE}")
    if name in (ID, *TIMESTAMPS):
        raise InvalidInput(f"{collection}: {name!r} is managed by the store and cannot be indexed")
    return name


def check_id(collection: str, doc_id: object) -> str:
    if not isinstance(doc_id, str) or not _ID.fullmatch(doc_id):
        raise InvalidInput(
            f"{collection}: document id {doc_id!r} is not valid: 1-128 of letters, digits, '.', '_', ':', '-', "
            "starting with a letter or digit"
        )
    return doc_id


def _check_value(collection: str, path: str, value: Any) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not I64_MIN <= value <= I64_MAX:
            raise InvalidInput(f"{collection}: {path} = {value} does not fit a 64-bit integer")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{collection}: {path} = {value} cannot be stored (JSON has no NaN or infinity)")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_value(collection, f"{path}[{i}]", item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{collection}: {path} has a key {key!r} that is not a string")
            _check_value(collection, f"{path}.{key}", item)
        return
    kind = getattr(value, "rhai_type_name", None) or type(value).__name__
    raise InvalidInput(
        f"{collection}: {path} has type {kind}, which cannot be stored "
        "(store numbers, strings, booleans, arrays and maps)"
    )


def encode(collection: str, field: str, value: Any) -> str:
    """The canonical JSON text of one field's value, after checking that it can be stored."""
    check_field(collection, field)
    _check_value(collection, field, value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _text(raw: str | bytes) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def ordered(doc: dict[str, Any]) -> dict[str, Any]:
    """``id`` first and the timestamps last, whatever order Redis kept the hash fields in."""
    head = {ID: doc[ID]} if ID in doc else {}
    tail = {name: doc[name] for name in TIMESTAMPS if name in doc}
    body = {name: value for name, value in doc.items() if name != ID and name not in TIMESTAMPS}
    return {**head, **body, **tail}


def decode(flat: list[Any]) -> dict[str, Any]:
    """A document from a flat ``[field, value-json, ...]`` reply (``HGETALL`` inside a script)."""
    return ordered({_text(flat[i]): json.loads(flat[i + 1]) for i in range(0, len(flat), 2)})
