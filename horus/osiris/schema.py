"""A collection's declared indexes and the paging options of ``list`` and ``find``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from horus.osiris.errors import InvalidInput
from horus.osiris.values import check_indexed_field

DEFAULT_LIMIT = 100
#: One call returns at most this many documents: a page is read in one Redis script, which
#: blocks the server while it runs, so pages stay small and callers page with ``offset``.
MAX_LIMIT = 1000

INDEX = "index"
UNIQUE = "unique"


@dataclass(frozen=True, slots=True)
class Schema:
    """Which fields have an index; a unique field is indexed too."""

    index: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()

    @classmethod
    def build(cls, collection: str, index: Iterable[str] = (), unique: Iterable[str] = ()) -> Schema:
        unique_fields = sorted({check_indexed_field(collection, f) for f in _names(collection, UNIQUE, unique)})
        index_fields = sorted(
            {check_indexed_field(collection, f) for f in _names(collection, INDEX, index)} - set(unique_fields)
        )
        return cls(index=tuple(index_fields), unique=tuple(unique_fields))

    @classmethod
    def from_kinds(cls, kinds: Mapping[str, str]) -> Schema:
        return cls(
            index=tuple(sorted(f for f, k in kinds.items() if k == INDEX)),
            unique=tuple(sorted(f for f, k in kinds.items() if k == UNIQUE)),
        )

    def kinds(self) -> dict[str, str]:
        """Field -> ``index`` or ``unique``, as the schema hash holds it."""
        return {**{f: INDEX for f in self.index}, **{f: UNIQUE for f in self.unique}}

    def as_dict(self) -> dict[str, list[str]]:
        return {INDEX: list(self.index), UNIQUE: list(self.unique)}


def _names(collection: str, key: str, names: Iterable[str]) -> list[str]:
    if isinstance(names, str | bytes) or not isinstance(names, Iterable):
        raise InvalidInput(f"{collection}: {key} must be a list of field names, not {names!r}")
    return list(names)


@dataclass(frozen=True, slots=True)
class Page:
    """``limit`` and ``offset`` of ``list`` and ``find``."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def build(cls, where: str, limit: Any = DEFAULT_LIMIT, offset: Any = 0) -> Page:
        if type(limit) is not int or not 0 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"{where}: limit must be an integer from 0 to {MAX_LIMIT}, not {limit!r}")
        if type(offset) is not int or offset < 0:
            raise InvalidInput(f"{where}: offset must be an integer of 0 or more, not {offset!r}")
        return cls(limit=limit, offset=offset)

    @classmethod
    def from_options(cls, where: str, options: Mapping[str, Any]) -> Page:
        """From a script's ``#{limit, offset}`` map; other keys are refused so a typo is not ignored."""
        unknown = sorted(set(options) - {"limit", "offset"})
        if unknown:
            raise InvalidInput(f"{where}: unknown option {', '.join(map(repr, unknown))} (known: limit, offset)")
        return cls.build(where, options.get("limit", DEFAULT_LIMIT), options.get("offset", 0))
