"""Link snapshots and their hashes: what both sides agreed on at the last sync.

A snapshot is ``{kiro field: canonical value}`` (engine.mapping.fields.canonical), in Kiro
terms, stored on the external link. Its hash covers the fields a record brings in (the
stream's inbound fields), so a record whose mapped values hash to the link's
``snapshot_hash`` carries nothing new: unchanged since the last sync, or the echo of what we
wrote ourselves. Either way it is skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from engine.errors import RecordError
from engine.mapping.compiled import CompiledField
from engine.mapping.fields import canonical


def snapshot_hash(snapshot: Mapping[str, Any], fields: Iterable[CompiledField]) -> str:
    """A stable hash of ``snapshot`` over ``fields`` (missing fields count as None)."""
    return values_hash({f.name: snapshot.get(f.name) for f in fields})


def values_hash(values: Mapping[str, Any]) -> str:
    """``snapshot_hash`` of a snapshot that holds exactly the hashed fields."""
    data = orjson.dumps(values, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(data).hexdigest()[:40]


def canonical_values(values: Mapping[str, Any], fields: Iterable[CompiledField]) -> dict[str, Any]:
    """Mapped Kiro values (users already resolved to ids) in canonical form."""
    return {f.name: canonical(f.kiro, values.get(f.name)) for f in fields}


def predicted_after_create(item_field: CompiledField) -> Any:
    """What an inbound-only field will read back as after we create the item remotely:
    what a record without it maps to (its default)."""
    if item_field.kiro.kind == "user":
        return None
    try:
        return canonical(item_field.kiro, item_field.to_kiro(None))
    except RecordError:
        return None


__all__ = ["canonical_values", "predicted_after_create", "snapshot_hash", "values_hash"]
