"""Splitting a byte stream into lines without ever holding an unbounded line.

Every import format is newline-delimited.  A hostile object may hold one enormous line
(or no newline at all); the splitter keeps at most ``max_line`` bytes of a line and
reports a longer one as :data:`TOO_LONG` (with its true length) instead of buffering
it, so memory stays bounded whatever the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_LINE", "Line", "LineSplitter", "split_lines"]

#: A 400 KB item written as DynamoDB JSON can take several times its size (base64
#: binaries, ``\\uXXXX`` escapes, type wrappers), so the default leaves room for that.
DEFAULT_MAX_LINE = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Line:
    """One line without its terminator; ``data`` is None when it was longer than the
    splitter's limit.  ``size`` counts the line's bytes including the terminator."""

    number: int
    data: bytes | None
    size: int


class LineSplitter:
    """Push-style splitter: :meth:`feed` chunks, then :meth:`finish` once.

    Lines end at ``\\n``; a ``\\r`` before it is dropped (files written on Windows).
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        self._max = max_line
        self._buf = bytearray()
        self._overflow = 0  # bytes of the current line dropped past the limit
        self._number = 0

    def _emit(self, size: int) -> Line:
        self._number += 1
        if self._overflow:
            line = Line(self._number, None, size)
        else:
            data = bytes(self._buf)
            line = Line(self._number, data[:-1] if data.endswith(b"\r") else data, size)
        self._buf.clear()
        self._overflow = 0
        return line

    def feed(self, chunk: bytes) -> list[Line]:
        out: list[Line] = []
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if self._overflow or len(self._buf) + len(piece) > self._max:
                self._overflow += len(self._buf) + len(piece)
                self._buf.clear()
            else:
                self._buf += piece
            if end < 0:
                break
            out.append(self._emit(self._overflow + len(self._buf) + 1))
            start = end + 1
        return out

    def finish(self) -> list[Line]:
        """The last line, if the stream did not end with a newline."""
        if self._buf or self._overflow:
            return [self._emit(self._overflow + len(self._buf))]
        return []


def split_lines(chunks: Iterable[bytes], max_line: int = DEFAULT_MAX_LINE) -> Iterator[Line]:
    """Pull-style :class:`LineSplitter` over an iterable of chunks."""
    splitter = LineSplitter(max_line)
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.finish()
