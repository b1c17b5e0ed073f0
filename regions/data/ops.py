"""Typed write operations: what PutItem, DeleteItem, UpdateItem, a batch, a
transaction and the TTL sweeper ask of the data plane.

Each operation names its table and its item and has a pure ``apply(old, key,
schema) -> new`` (``None`` = absent / delete): the whole read-modify-write rule of
the operation, including its condition, with no I/O.  The data plane
(:mod:`regions.data.plane`) reads the stored item inside its transaction, calls
``apply`` and writes the result; a retried transaction may call it again, which is
why it must stay pure.

The rule "a failed condition raises ConditionalCheckFailed, with the old item when
the caller asked for it" is :meth:`WriteOp.check`, written once for every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from regions import expressions as ex
from regions.errors import ConditionalCheckFailed, DynamoError
from regions.keys import KeySchema, item_key, validate_key
from regions.types import Item, check_item_size, validate_item

__all__ = [
    "Condition",
    "ConditionCheck",
    "Delete",
    "Put",
    "Update",
    "WriteOp",
    "WriteOutcome",
    "WritesCancelled",
]

#: a condition on the stored item (None when absent): ConditionExpression or Expected
Condition = Callable[[Item | None], bool]


@dataclass(frozen=True)
class WriteOutcome:
    """What one write did: the item before and after, and whether it changed."""

    old: Item | None
    new: Item | None
    changed: bool


class WritesCancelled(DynamoError):
    """An atomic multi-item write failed; nothing was written.  ``failures`` maps
    the position of each failed write to its error (api/ builds
    TransactionCanceledException's CancellationReasons from it)."""

    code = "TransactionCanceledException"

    def __init__(self, failures: dict[int, DynamoError], total: int) -> None:
        super().__init__("Transaction cancelled")
        self.failures = failures
        self.total = total


@dataclass(frozen=True)
class WriteOp:
    """What every write operation has: a table, a condition and what a failed
    condition returns."""

    table: str
    condition: Condition | None = None
    #: ReturnValuesOnConditionCheckFailure=ALL_OLD
    return_old_on_failure: bool = False

    def check(self, old: Item | None) -> None:
        """The operation's condition against the stored item (raises when it fails)."""
        if self.condition is not None and not self.condition(old):
            raise ConditionalCheckFailed(item=old if self.return_old_on_failure else None)

    def validated(self, schema: KeySchema) -> tuple[Item, WriteOp]:
        """(the item's validated key, the operation with its values canonical);
        raises ValidationError as DynamoDB does for a bad key or item."""
        raise NotImplementedError

    def apply(self, old: Item | None, key: Item, schema: KeySchema) -> Item | None:
        """The new item given the stored one (None: absent); pure."""
        raise NotImplementedError


@dataclass(frozen=True)
class Put(WriteOp):
    #: the item as sent (wire form); canonical once validated()
    item: Any = None
    #: ``item`` is already canonical and within the size limit (the HTTP layer
    #: validates it before the table is looked up, as DynamoDB does): only its key
    #: is left to check
    canonical: bool = False

    def validated(self, schema: KeySchema) -> tuple[Item, Put]:
        if self.canonical:
            return item_key(self.item, schema), self
        canonical = validate_item(self.item)
        key = item_key(canonical, schema)
        check_item_size(canonical)
        return key, replace(self, item=canonical)

    def apply(self, old: Item | None, key: Item, schema: KeySchema) -> Item | None:
        self.check(old)
        item: Item = self.item
        return item


@dataclass(frozen=True)
class Delete(WriteOp):
    key: Any = None
    #: a delete made by the service itself (TTL expiry): its change record says so
    #: for the Streams API, and only the region holding the item's current version
    #: makes it (see DataPlane.commit)
    service: bool = False

    def validated(self, schema: KeySchema) -> tuple[Item, Delete]:
        return validate_key(self.key, schema), self

    def apply(self, old: Item | None, key: Item, schema: KeySchema) -> Item | None:
        self.check(old)
        return None


@dataclass(frozen=True)
class ConditionCheck(WriteOp):
    """A transaction's ConditionCheck: the condition only; the item is unchanged, so
    the data plane writes nothing for it."""

    key: Any = None

    def validated(self, schema: KeySchema) -> tuple[Item, ConditionCheck]:
        return validate_key(self.key, schema), self

    def apply(self, old: Item | None, key: Item, schema: KeySchema) -> Item | None:
        self.check(old)
        return old


@dataclass(frozen=True)
class Update(WriteOp):
    """UpdateItem (and a transaction's Update): an UpdateExpression, or the legacy
    AttributeUpdates, applied to the stored item or, when there is none, to the bare
    key (an upsert)."""

    key: Any = None
    update: ex.Update | None = None
    #: the legacy AttributeUpdates (ex.attribute_updates_to_update), instead of ``update``
    attribute_updates: Any = None

    def validated(self, schema: KeySchema) -> tuple[Item, Update]:
        return validate_key(self.key, schema), self

    def apply(self, old: Item | None, key: Item, schema: KeySchema) -> Item | None:
        self.check(old)
        result = self._result(old, key, schema)
        if result is None:
            # no update at all: the bare key item is created (an upsert)
            return old if old is not None else dict(key)
        if old is None and result.touched_only_remove:
            # a REMOVE-only update does not create the item
            return None
        check_item_size(result.item, update=True)
        return result.item

    def updated_paths(self, old: Item | None, key: Item, schema: KeySchema) -> list[ex.Path]:
        """The paths the update changed, for ReturnValues UPDATED_OLD/UPDATED_NEW:
        the same pure computation as apply(), run again on the item it saw."""
        result = self._result(old, key, schema)
        if result is None or (old is None and result.touched_only_remove):
            return []
        return list(result.updated_paths)

    def _result(self, old: Item | None, key: Item, schema: KeySchema) -> ex.UpdateResult | None:
        base = old if old is not None else dict(key)
        if self.attribute_updates is not None:
            # AttributeUpdates: its own ADD/DELETE rules (an empty map upserts the key)
            return ex.apply_attribute_updates(base, self.attribute_updates, schema.names)
        if self.update is None:
            return None
        return ex.apply_update(base, self.update, schema.names, absent=old is None)
