"""Export data files, written a line at a time and rotated by size.

A driver streams a table (or a change window) through :class:`ExportDataWriter`; every
time the current file's lines reach ``target_bytes`` (uncompressed: the compressor's
own output lags far behind its input, and uncompressed bytes are what imports count)
the file is finished and handed back, ready to be stored under its key, so memory
holds at most one compressed file.  An
export always has at least one data file, empty if need be: DynamoDB writes an empty
file for an empty partition (and an empty table has one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from regions.protection.formats.compression import Compressor
from regions.protection.formats.dynamodb_json import encode_change_line, encode_item_line
from regions.protection.formats.ion_writer import ion_change_line, ion_item_line
from regions.protection.formats.manifest import (
    ExportLayout,
    ManifestFileEntry,
    md5_base64,
    new_data_file_name,
    s3_etag,
)
from regions.protection.formats.records import ChangeRecord
from regions.types import Item, item_size

__all__ = ["DEFAULT_TARGET_BYTES", "DataFile", "ExportDataWriter", "encode_change", "encode_item"]

#: Uncompressed line bytes per data file before rotating; gzip typically brings that
#: down to a few tens of MiB, the most memory one open file takes.
DEFAULT_TARGET_BYTES: Final = 256 * 1024 * 1024


def encode_item(export_format: str, item: Item) -> bytes:
    """One full-export line of ``item`` in ``export_format``."""
    if export_format == "DYNAMODB_JSON":
        return encode_item_line(item)
    if export_format == "ION":
        return ion_item_line(item)
    raise ValueError(f"unknown export format {export_format!r}")


def encode_change(export_format: str, record: ChangeRecord) -> bytes:
    """One incremental-export line of ``record`` in ``export_format``."""
    if export_format == "DYNAMODB_JSON":
        return encode_change_line(record)
    if export_format == "ION":
        return ion_change_line(record)
    raise ValueError(f"unknown export format {export_format!r}")


@dataclass(frozen=True, slots=True)
class DataFile:
    """A finished data file: its key, its compressed bytes and what the manifest says
    of it.  ``item_bytes`` sums DynamoDB's item sizes of what it holds."""

    key: str
    data: bytes
    item_count: int
    item_bytes: int
    uncompressed_bytes: int

    @property
    def md5_checksum(self) -> str:
        return md5_base64(self.data)

    def manifest_entry(self, etag: str | None = None) -> ManifestFileEntry:
        """The ``manifest-files.json`` line; ``etag`` is what the store answered (by
        default the single-PUT ETag S3 computes)."""
        return ManifestFileEntry(
            item_count=self.item_count,
            md5_checksum=self.md5_checksum,
            etag=s3_etag(self.data) if etag is None else etag,
            data_file_s3_key=self.key,
        )


@dataclass
class _Open:
    key: str
    compressor: Compressor = field(default_factory=lambda: Compressor("GZIP"))
    chunks: list[bytes] = field(default_factory=list)
    item_count: int = 0
    item_bytes: int = 0
    uncompressed_bytes: int = 0


class ExportDataWriter:
    """Lines into gzip data files under ``layout``, rotating at ``target_bytes`` of
    uncompressed lines.

    :meth:`write_item` (full export) and :meth:`write_change` (incremental) return the
    files finished by that call (usually none); :meth:`close` returns the rest.
    ``name_factory`` exists for tests that need fixed names.
    """

    def __init__(
        self,
        layout: ExportLayout,
        export_format: str,
        *,
        incremental: bool = False,
        target_bytes: int = DEFAULT_TARGET_BYTES,
        name_factory: Callable[[], str] = new_data_file_name,
    ) -> None:
        if export_format not in ("DYNAMODB_JSON", "ION"):
            raise ValueError(f"unknown export format {export_format!r}")
        if target_bytes < 1:
            raise ValueError("target_bytes must be positive")
        self.layout = layout
        self.export_format = export_format
        self.incremental = incremental
        self.target_bytes = target_bytes
        self._names = name_factory
        self._open: _Open | None = None
        self._files = 0
        self.item_count = 0
        self.item_bytes = 0

    def _current(self) -> _Open:
        if self._open is None:
            key = self.layout.data_key(
                self._names(), self.export_format, incremental=self.incremental
            )
            self._open = _Open(key)
        return self._open

    def _finish(self) -> DataFile:
        current = self._current()
        current.chunks.append(current.compressor.finish())
        self._open = None
        self._files += 1
        return DataFile(
            key=current.key,
            data=b"".join(current.chunks),
            item_count=current.item_count,
            item_bytes=current.item_bytes,
            uncompressed_bytes=current.uncompressed_bytes,
        )

    def _write(self, line: bytes, size: int) -> list[DataFile]:
        current = self._current()
        current.chunks.append(current.compressor.write(line))
        current.item_count += 1
        current.item_bytes += size
        current.uncompressed_bytes += len(line)
        self.item_count += 1
        self.item_bytes += size
        if current.uncompressed_bytes >= self.target_bytes:
            return [self._finish()]
        return []

    def write_item(self, item: Item) -> list[DataFile]:
        return self._write(encode_item(self.export_format, item), item_size(item))

    def write_change(self, record: ChangeRecord) -> list[DataFile]:
        image = record.new_image if record.new_image is not None else record.keys
        return self._write(encode_change(self.export_format, record), item_size(image))

    def close(self) -> list[DataFile]:
        """The last file; an empty one if the export wrote no file at all."""
        if self._open is not None or self._files == 0:
            return [self._finish()]
        return []
