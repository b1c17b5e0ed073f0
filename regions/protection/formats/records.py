"""What one line of an export or an import holds, independent of its text format.

A full export line holds one item.  An incremental export line holds one changed item,
compacted over the export window: its key, when it was last written, and images
according to the view type (DynamoDB Developer Guide, "DynamoDB table export output
format", incremental export output):

=====================  ==========================  ===================
change in the window   NEW_AND_OLD_IMAGES          NEW_IMAGE
=====================  ==========================  ===================
insert                 Keys, NewImage              Keys, NewImage
update                 Keys, OldImage, NewImage    Keys, NewImage
delete                 Keys, OldImage              Keys
=====================  ==========================  ===================

An item that did not exist at either end of the window (put, then deleted) gives no
line at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from regions.errors import DynamoError
from regions.keys import KeySchema, item_key
from regions.protection.formats.errors import FormatError
from regions.types import Item, check_item_size, validate_item

__all__ = [
    "EXPORT_VIEW_TYPES",
    "ChangeRecord",
    "ExportViewType",
    "ParsedItem",
    "change_record",
    "checked_item",
]

ExportViewType = Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES"]
EXPORT_VIEW_TYPES: Final[tuple[ExportViewType, ...]] = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One incremental export line: ``Metadata.WriteTimestampMicros``, ``Keys``, and the
    images the view type keeps (None when the line has no such member)."""

    write_timestamp_micros: int
    keys: Item
    old_image: Item | None = None
    new_image: Item | None = None


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """An item read from an import object: ``index`` is its position among the
    object's items (DynamoDB's ``itemIndex``), ``line`` the 1-based line it starts on,
    ``size`` its source bytes (for ``ProcessedSizeBytes``)."""

    index: int
    line: int
    item: Item
    size: int


def change_record(
    view: ExportViewType,
    keys: Item,
    old: Item | None,
    new: Item | None,
    write_timestamp_micros: int,
) -> ChangeRecord | None:
    """The line for an item that was ``old`` at the window's start and is ``new`` at its
    end (None for absent), or None when nothing is exported for it."""
    if view not in EXPORT_VIEW_TYPES:
        raise ValueError(f"unknown export view type {view!r}")
    if old is None and new is None:
        return None
    keep_old = view == "NEW_AND_OLD_IMAGES"
    return ChangeRecord(
        write_timestamp_micros=write_timestamp_micros,
        keys=keys,
        old_image=old if keep_old else None,
        new_image=new,
    )


def checked_item(raw: object, key_schema: KeySchema | None = None) -> Item:
    """An imported item as DynamoDB's PutItem would take it: validated, canonical,
    within the size limit and (given the table's key schema) with a valid key.

    Raises FormatError carrying DynamoDB's own message (``One or more parameter values
    were invalid: Missing the key pk in the item``...), which is what DynamoDB writes
    to an import's error log.
    """
    try:
        item = validate_item(raw)
        check_item_size(item)
        if key_schema is not None:
            item_key(item, key_schema)
    except DynamoError as exc:
        raise FormatError(exc.message) from None
    return item
