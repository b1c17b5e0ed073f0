"""GZIP, ZSTD and uncompressed objects, streamed, with a bound on what comes out.

ImportTable reads ``GZIP``, ``ZSTD`` or ``NONE`` objects; exports write GZIP.  An
import source is untrusted: a few kilobytes of gzip or zstd can expand to terabytes,
so every :class:`Decompressor` stops with :class:`~.errors.ObjectFormatError` once
the output passes ``max_output`` bytes, and never goes more than a bounded step
(at most 32 MiB) past the limit.

Concatenated gzip members and zstd frames (what ``cat a.gz b.gz`` gives, and what
parallel compressors write) are read to the end, as gzip(1) and zstd(1) do.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Final, Literal

import zstandard

from regions.protection.formats.errors import ObjectFormatError

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_MAX_OUTPUT",
    "Compression",
    "Compressor",
    "Decompressor",
    "compress",
    "decompress",
    "decompress_stream",
]

Compression = Literal["GZIP", "ZSTD", "NONE"]
COMPRESSIONS: Final[tuple[Compression, ...]] = ("GZIP", "ZSTD", "NONE")

#: Bound on one object's decompressed size unless the caller gives another: far above
#: any sane import object (DynamoDB bills and limits on uncompressed bytes), far below
#: what fills a disk or memory.
DEFAULT_MAX_OUTPUT: Final = 64 * 1024**3

# zlib: 16 + MAX_WBITS selects the gzip wrapper (header and CRC-32 trailer checked).
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
# Each decompress call may return at most this much, so one tiny but explosive chunk
# is expanded in steps and the bound is checked between them.
_STEP: Final = 1024 * 1024
# A zstd block of at least 4 bytes (header and one RLE byte) expands to at most 128 KiB,
# so 1 KiB of input gives at most 32 MiB: the furthest the bound can be overshot.
_ZSTD_SLICE: Final = 1024


def _bomb(limit: int) -> ObjectFormatError:
    return ObjectFormatError(
        f"decompressed size exceeds the limit of {limit} bytes (refusing a possible "
        "decompression bomb)"
    )


class Decompressor:
    """Push-style decompression: :meth:`feed` compressed chunks, then :meth:`finish`.

    Raises ObjectFormatError for corrupt or truncated input and when the output
    passes ``max_output`` bytes.
    """

    def __init__(self, compression: str, max_output: int = DEFAULT_MAX_OUTPUT) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"unknown compression {compression!r}")
        self.compression = compression
        self.max_output = max_output
        self.total_in = 0
        self.total_out = 0
        self._gzip: zlib._Decompress | None = None
        self._zstd: zstandard.ZstdDecompressionObj | None = None
        self._zstd_ctx = zstandard.ZstdDecompressor() if compression == "ZSTD" else None
        self._in_frame = False  # bytes of an unfinished gzip member / zstd frame seen

    def _count(self, out: bytes) -> bytes:
        self.total_out += len(out)
        if self.total_out > self.max_output:
            raise _bomb(self.max_output)
        return out

    def _feed_gzip(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._gzip is None:
                self._gzip = zlib.decompressobj(_GZIP_WBITS)
            self._in_frame = True
            try:
                out = self._gzip.decompress(data, _STEP)
                yield self._count(out)
                while self._gzip.unconsumed_tail and not self._gzip.eof:
                    yield self._count(self._gzip.decompress(self._gzip.unconsumed_tail, _STEP))
            except zlib.error as exc:
                raise ObjectFormatError(f"corrupt GZIP data: {exc}") from None
            if not self._gzip.eof:
                return
            # One member ended; whatever follows starts the next one.
            data = self._gzip.unused_data
            self._gzip = None
            self._in_frame = False

    def _feed_zstd(self, data: bytes) -> Iterator[bytes]:
        assert self._zstd_ctx is not None
        while data:
            if self._zstd is None:
                self._zstd = self._zstd_ctx.decompressobj()
            self._in_frame = True
            try:
                # zstandard has no output cap per call, so the input goes in slices
                # small enough that one slice cannot expand past _ZSTD_SLICE_MAX_OUT.
                for i in range(0, len(data), _ZSTD_SLICE):
                    yield self._count(self._zstd.decompress(data[i : i + _ZSTD_SLICE]))
                    if self._zstd.eof:
                        # The next frame starts with what this slice did not use.
                        data = self._zstd.unused_data + data[i + _ZSTD_SLICE :]
                        break
                else:
                    return
            except zstandard.ZstdError as exc:
                raise ObjectFormatError(f"corrupt ZSTD data: {exc}") from None
            self._zstd = None
            self._in_frame = False

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """Decompressed bytes for ``chunk`` (possibly several pieces, possibly none)."""
        self.total_in += len(chunk)
        if self.compression == "NONE":
            yield self._count(chunk)
        elif self.compression == "GZIP":
            yield from self._feed_gzip(chunk)
        else:
            yield from self._feed_zstd(chunk)

    def finish(self) -> None:
        """Check that the input did not stop inside a gzip member or zstd frame."""
        if self._in_frame:
            raise ObjectFormatError(f"truncated {self.compression} data")


def decompress_stream(
    chunks: Iterable[bytes], compression: str, max_output: int = DEFAULT_MAX_OUTPUT
) -> Iterator[bytes]:
    """Pull-style :class:`Decompressor` over an iterable of compressed chunks."""
    decompressor = Decompressor(compression, max_output)
    for chunk in chunks:
        yield from decompressor.feed(chunk)
    decompressor.finish()


def decompress(data: bytes, compression: str, max_output: int = DEFAULT_MAX_OUTPUT) -> bytes:
    """A whole object at once (bounded like the stream)."""
    return b"".join(decompress_stream([data], compression, max_output))


class Compressor:
    """Push-style compression for export data files: :meth:`write`, then :meth:`finish`.

    ``compressed_size`` counts the compressed bytes returned so far (the compressor
    may hold some more until :meth:`finish`); a writer rotates files on it.
    """

    def __init__(self, compression: str, level: int | None = None) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"unknown compression {compression!r}")
        self.compression = compression
        self.compressed_size = 0
        self._gzip: zlib._Compress | None = None
        self._zstd: zstandard.ZstdCompressionObj | None = None
        if compression == "GZIP":
            # mtime 0 and no file name in the header: the same data gives the same bytes
            # (and the same md5Checksum) every time.
            self._gzip = zlib.compressobj(6 if level is None else level, zlib.DEFLATED, _GZIP_WBITS)
        elif compression == "ZSTD":
            self._zstd = zstandard.ZstdCompressor(level=3 if level is None else level).compressobj()

    def _count(self, out: bytes) -> bytes:
        self.compressed_size += len(out)
        return out

    def write(self, data: bytes) -> bytes:
        if self._gzip is not None:
            return self._count(self._gzip.compress(data))
        if self._zstd is not None:
            return self._count(self._zstd.compress(data))
        return self._count(data)

    def finish(self) -> bytes:
        if self._gzip is not None:
            return self._count(self._gzip.flush())
        if self._zstd is not None:
            return self._count(self._zstd.flush())
        return b""


def compress(data: bytes, compression: str) -> bytes:
    """A whole object at once."""
    c = Compressor(compression)
    return c.write(data) + c.finish()
