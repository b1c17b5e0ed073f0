"""What a change record from another region must satisfy before it touches the store.

Invariant 9 (docs/architecture.md): a remote record's content is valid for the table it names
or it is not applied.  The wire fields were type-checked by
:meth:`ChangeRecord.decode`; this module checks them against the table's spec and
this region's clock:

* the keys are exactly the table's key attributes, with the schema's types and
  DynamoDB's key rules (empty values, key lengths);
* the item image is a well-formed item (attribute values as PutItem accepts
  them) of at most 400 KB whose own key equals the record's keys: a row stored
  under one key and read back under another is how a crafted record would corrupt
  a table;
* the version's physical time is at most ``max_ahead_ms`` ahead of this region's
  wall clock.  The clock observes every applied version (invariant 2), so a record
  from far in the future would drag every later local write with it; such a record
  is refused, never clamped (clamping would change its version and so the LWW
  outcome in this region only, and regions would diverge).

Everything here is pure: no store, no clock reads.  :func:`check` returns the
canonical keys and item that the region then writes.
"""

from __future__ import annotations

import orjson

from regions.catalog import TableSpec
from regions.changes import ChangeRecord, InvalidRecord
from regions.errors import DynamoError
from regions.keys import item_key, validate_key
from regions.types import MAX_ITEM_SIZE, Item, item_size, validate_item
from regions.versions import physical_ms

__all__ = ["DEFAULT_MAX_AHEAD_MS", "check"]

#: how far ahead of the local wall clock a remote version may be (ms); regions'
#: clocks are expected to agree within NTP's tens of ms, so a minute is generous
DEFAULT_MAX_AHEAD_MS = 60_000


def _show(value: object) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 200 else text[:200] + "..."


def check(
    rec: ChangeRecord, spec: TableSpec, *, now_ms: int, max_ahead_ms: int
) -> tuple[Item, Item | None]:
    """The record's canonical (keys, new image), or :class:`InvalidRecord`."""
    ahead = physical_ms(rec.version.hlc) - now_ms
    if ahead > max_ahead_ms:
        raise InvalidRecord(
            "clock-ahead",
            f"version {rec.version} is {ahead} ms ahead of this region's clock "
            f"(at most {max_ahead_ms} ms is accepted)",
        )
    try:
        keys = validate_key(rec.keys, spec.key_schema)
    except DynamoError as exc:
        raise InvalidRecord(
            "bad-key", f"keys {_show(rec.keys)} do not fit table {spec.name}: {exc.message}"
        ) from None
    if rec.new_image is None:
        return keys, None
    try:
        new = validate_item(rec.new_image)
    except DynamoError as exc:
        raise InvalidRecord("bad-item", f"the item is not valid: {exc.message}") from None
    size = item_size(new)
    if size > MAX_ITEM_SIZE:
        raise InvalidRecord(
            "item-too-large", f"the item has {size} bytes (DynamoDB's limit: {MAX_ITEM_SIZE})"
        )
    try:
        own = item_key(new, spec.key_schema)
    except DynamoError as exc:
        raise InvalidRecord("key-mismatch", f"the item's key is not valid: {exc.message}") from None
    if own != keys:
        raise InvalidRecord(
            "key-mismatch",
            f"the item's key {_show(own)} differs from the record's keys {_show(keys)}",
        )
    return keys, new
