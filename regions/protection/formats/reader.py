"""Reading one import object: decompress, split into lines, parse, validate.

:func:`read_import_object` is the whole pipeline for ImportTable: it yields each item
(:class:`~.records.ParsedItem`) or, for a line that does not make one, an
:class:`~.errors.ItemError` to count in ``ErrorCount`` and log, and carries on.  It
raises :class:`~.errors.ObjectFormatError` when the rest of the object cannot be read
(corrupt compression, a decompression bomb, a bad CSV header), after yielding
everything before that point.

:func:`read_import_stream` is the same pipeline fed from an object store's
asynchronous stream of chunks (``ObjectStore.get_chunks``), in bounded memory: the
synchronous reader runs in a thread of its own (:func:`iterate_in_thread`).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Final, Generic, Literal, Protocol, TypeVar

import orjson

from regions.keys import KeySchema
from regions.protection.formats.compression import DEFAULT_MAX_OUTPUT, decompress_stream
from regions.protection.formats.csv_import import CsvOptions, read_csv
from regions.protection.formats.dynamodb_json import decode_item_line
from regions.protection.formats.errors import FormatError, ItemError
from regions.protection.formats.ion_reader import decode_ion_item_line
from regions.protection.formats.lines import DEFAULT_MAX_LINE, Line, split_lines
from regions.protection.formats.records import ParsedItem
from regions.types import Item

__all__ = [
    "INPUT_FORMATS",
    "InputFormat",
    "error_log_line",
    "iterate_in_thread",
    "read_import_object",
    "read_import_stream",
    "read_lines",
]

InputFormat = Literal["CSV", "DYNAMODB_JSON", "ION"]
INPUT_FORMATS: Final[tuple[InputFormat, ...]] = ("CSV", "DYNAMODB_JSON", "ION")


def read_lines(
    lines: Iterable[Line],
    decode: Callable[[bytes], Item | None],
    max_line: int = DEFAULT_MAX_LINE,
) -> Iterator[ParsedItem | ItemError]:
    """Items of a line-per-item object (DynamoDB JSON, Ion); ``decode`` gives None for
    a line holding no item (blank, comment, version marker only)."""
    index = 0
    for line in lines:
        if line.data is not None and not line.data.strip():
            continue
        try:
            if line.data is None:
                raise FormatError(f"line longer than {max_line} bytes")
            item = decode(line.data)
        except FormatError as exc:
            yield ItemError(index, line.number, str(exc), line.size)
            index += 1
            continue
        if item is not None:
            yield ParsedItem(index, line.number, item, line.size)
            index += 1


def read_import_object(
    chunks: Iterable[bytes],
    *,
    input_format: str,
    compression: str,
    key_schema: KeySchema | None,
    attribute_types: Mapping[str, str],
    csv_options: CsvOptions | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    max_line: int = DEFAULT_MAX_LINE,
) -> Iterator[ParsedItem | ItemError]:
    """Items of one import object given as compressed ``chunks``.

    ``key_schema`` is the new table's key (each item needs it); ``attribute_types``
    maps every AttributeDefinition to S, N or B (CSV types key columns with it).
    """
    lines = split_lines(decompress_stream(chunks, compression, max_output), max_line)
    if input_format == "CSV":
        yield from read_csv(
            lines, csv_options or CsvOptions(), attribute_types, key_schema, max_record=max_line
        )
    elif input_format == "DYNAMODB_JSON":
        yield from read_lines(lines, lambda b: decode_item_line(b, key_schema), max_line)
    elif input_format == "ION":
        yield from read_lines(lines, lambda b: decode_ion_item_line(b, key_schema), max_line)
    else:
        raise ValueError(f"unknown input format {input_format!r}")


def error_log_line(import_arn: str, bucket: str, key: str, error: ItemError) -> bytes:
    """One entry of the import's error report, in the shape DynamoDB logs to
    ``/aws-dynamodb/imports`` (Developer Guide, "Import format quotas and validation"):
    ``{"itemS3Pointer":{"bucket","key","itemIndex"},"importArn","errorMessages":[...]}``.
    """
    entry = {
        "itemS3Pointer": {"bucket": bucket, "key": key, "itemIndex": error.index},
        "importArn": import_arn,
        "errorMessages": [error.message],
    }
    return orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)


# ---------------------------------------------------------------- from a stream


async def read_import_stream(
    chunks: AsyncIterator[bytes],
    *,
    input_format: str,
    compression: str,
    key_schema: KeySchema | None,
    attribute_types: Mapping[str, str],
    csv_options: CsvOptions | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    max_line: int = DEFAULT_MAX_LINE,
) -> AsyncGenerator[ParsedItem | ItemError, None]:
    """:func:`read_import_object` over an asynchronous stream of compressed chunks,
    each read only when the reader needs it; closes ``chunks`` when done.  Iterate it
    in ``contextlib.aclosing`` so that leaving early stops the reader's thread."""

    def read(pulled: Iterable[bytes]) -> Iterator[ParsedItem | ItemError]:
        return read_import_object(
            pulled,
            input_format=input_format,
            compression=compression,
            key_schema=key_schema,
            attribute_types=attribute_types,
            csv_options=csv_options,
            max_output=max_output,
            max_line=max_line,
        )

    # closed with this generator, not whenever the loop finalizes it: that stops the
    # thread and closes ``chunks`` as soon as the consumer leaves
    async with aclosing(iterate_in_thread(chunks, read)) as entries:
        async for entry in entries:
            yield entry


class _Sized(Protocol):
    @property
    def size(self) -> int: ...


T = TypeVar("T", bound=_Sized)

#: entries handed to the event loop at a time (one wake-up of the loop each, not one
#: per entry), unless their lines add up to _GROUP_BYTES first
_GROUP_ITEMS: Final = 64
_GROUP_BYTES: Final = 256 * 1024
#: groups the thread may parse ahead of the consumer
_GROUPS_AHEAD: Final = 4
#: how often a thread waiting for the event loop checks that it is still wanted (it is
#: woken at once when stopped; this catches a loop that closed without stopping it)
_POLL_S: Final = 0.5


class _Stopped(Exception):
    """The consumer went away: the thread unwinds the reader and ends."""


class _Need:
    """The thread's request for the next chunk."""


@dataclass(frozen=True, slots=True)
class _End:
    """The thread's last message: the reader ended, with ``error`` if it raised."""

    error: BaseException | None


class _Stop:
    """The reply that stops a thread waiting for a chunk."""


_NEED: Final = _Need()
_STOP: Final = _Stop()


class _Worker(Generic[T]):
    """The thread's side.  It touches nothing of the event loop but
    ``call_soon_threadsafe``; its own waits are on thread-safe queues."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        read: Callable[[Iterable[bytes]], Iterator[T]],
        ahead: int,
        group_items: int,
        group_bytes: int,
    ) -> None:
        self.loop = loop
        self.read = read
        self.group_items = group_items
        self.group_bytes = group_bytes
        #: thread -> loop: groups of entries (at most ``ahead`` unread: credits), a
        #: chunk request (at most one at a time), then one _End
        self.inbox: asyncio.Queue[list[T] | _Need | _End] = asyncio.Queue()
        self.credits = threading.Semaphore(ahead)
        #: loop -> thread: the requested chunk, None at its end, or _STOP
        self.replies: queue.SimpleQueue[bytes | _Stop | None] = queue.SimpleQueue()
        self.stopped = threading.Event()
        self._group: list[T] = []
        self._group_size = 0

    # -- the loop's calls

    def stop(self) -> None:
        """Make the thread stop at its next chunk or entry, waking whichever wait
        it is in."""
        self.stopped.set()
        self.replies.put(_STOP)
        self.credits.release()

    # -- in the thread

    def run(self) -> None:
        error: BaseException | None = None
        try:
            for entry in self.read(self._chunks()):
                if self.stopped.is_set():
                    raise _Stopped
                self._group.append(entry)
                self._group_size += entry.size
                if len(self._group) >= self.group_items or self._group_size >= self.group_bytes:
                    self._send_group()
            self._send_group()
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, who raises it
            error = exc
        try:
            self._send(_End(error))
        except _Stopped:
            pass  # the loop is gone: nobody waits for this thread

    def _chunks(self) -> Iterator[bytes]:
        while True:
            # what is parsed goes out first: the consumer has it before it must fetch
            self._send_group()
            self._send(_NEED)
            chunk = self._reply()
            if chunk is None:
                return
            yield chunk

    def _reply(self) -> bytes | None:
        while True:
            self._check()
            try:
                reply = self.replies.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if isinstance(reply, _Stop):
                raise _Stopped
            return reply

    def _send_group(self) -> None:
        if not self._group:
            return
        while not self.credits.acquire(timeout=_POLL_S):
            self._check()
        self._check()  # stop() releases a credit to wake this wait
        group, self._group, self._group_size = self._group, [], 0
        self._send(group)

    def _send(self, message: list[T] | _Need | _End) -> None:
        try:
            self.loop.call_soon_threadsafe(self.inbox.put_nowait, message)
        except RuntimeError:  # the loop is closed: nobody to tell
            raise _Stopped from None

    def _check(self) -> None:
        if self.stopped.is_set() or self.loop.is_closed():
            raise _Stopped


async def iterate_in_thread(
    source: AsyncIterator[bytes],
    read: Callable[[Iterable[bytes]], Iterator[T]],
    *,
    ahead: int = _GROUPS_AHEAD,
    group_items: int = _GROUP_ITEMS,
    group_bytes: int = _GROUP_BYTES,
) -> AsyncGenerator[T, None]:
    """The entries of the synchronous, pull-style ``read(chunks)``, run in a thread
    whose ``chunks`` come from ``source`` one at a time, each fetched when the reader
    asks for it, by the consumer's own task as it asks for the next entry: only that
    task ever touches ``source``, so cancelling it needs no care of another task.

    Memory stays bounded whatever ``source`` holds: a chunk is fetched only when the
    reader needs one, and the thread parses at most ``ahead`` groups (of
    ``group_items`` entries or ``group_bytes`` bytes) ahead of the consumer, so a
    consumer busy committing a batch has the next ones parsed meanwhile.  An
    exception of ``read`` (or of ``source``) is raised here after the entries before
    it.  Leaving early (``aclose``, cancellation) stops the thread at its next chunk
    or entry and waits for it; ``source`` is closed in every case.

    A thread of its own, not the loop's executor: an import holds it for as long as
    it reads, and the executor's few threads serve every object store call.
    """
    worker = _Worker(asyncio.get_running_loop(), read, ahead, group_items, group_bytes)
    threading.Thread(target=worker.run, name="import-reader", daemon=True).start()
    ended = False
    try:
        while True:
            message = await worker.inbox.get()
            if isinstance(message, _End):
                ended = True
                if message.error is not None:
                    raise message.error
                return
            if isinstance(message, _Need):
                worker.replies.put(await anext(source, None))
                continue
            worker.credits.release()
            for entry in message:
                yield entry
    finally:
        if not ended:
            worker.stop()
            while not isinstance(await worker.inbox.get(), _End):
                pass  # what it sent before it saw the stop
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
