"""What the codecs report when input is bad.

Two levels, as DynamoDB's ImportTable has them: one bad item is counted in
``ErrorCount`` and the import goes on with the next item (:class:`ItemError`, a value,
yielded by the readers in place of the item); an object that cannot be read at all
(corrupt compression, a decompression bomb, an unusable CSV header) ends that object
(:class:`ObjectFormatError`, raised).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FormatError", "ItemError", "ObjectFormatError"]


class FormatError(ValueError):
    """One line or value is malformed; the message says what and where in the line."""


class ObjectFormatError(FormatError):
    """The rest of the object cannot be read (the reader stops after raising it)."""


@dataclass(frozen=True, slots=True)
class ItemError:
    """A line that did not give an item.

    ``index`` is DynamoDB's ``itemIndex`` (0 for the object's first item, header
    excluded), ``line`` the 1-based physical line where the item started, ``size`` the
    bytes of the line (they count in ``ProcessedSizeBytes`` like any other).
    """

    index: int
    line: int
    message: str
    size: int
