"""ImportTable's reading of an object as a stream: ``DirectoryObjects.get_chunks`` and
``read_import_stream`` (the synchronous reader in a thread, fed chunk by chunk from
the event loop) in bounded memory, stopping cleanly."""

from __future__ import annotations

import asyncio
import gzip
import threading
import tracemalloc
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import orjson
import pytest

from regions.keys import KeyAttr, KeySchema
from regions.protection.directory_objects import DirectoryObjects
from regions.protection.formats.errors import ItemError, ObjectFormatError
from regions.protection.formats.reader import (
    iterate_in_thread,
    read_import_object,
    read_import_stream,
)
from regions.protection.formats.records import ParsedItem
from regions.protection.objects import BadObjectKey, NoSuchBucket, NoSuchObject, ObjectStoreError

PK = KeySchema(KeyAttr("pk", "S"))
TYPES = {"pk": "S"}
MiB = 1024 * 1024


def json_line(n: int, pad: int = 0) -> bytes:
    item: dict[str, Any] = {"pk": {"S": f"k{n:08d}"}}
    if pad:
        item["pad"] = {"S": "x" * pad}
    return orjson.dumps({"Item": item}) + b"\n"


def read(chunks: AsyncIterator[bytes], compression: str = "NONE") -> AsyncGenerator[Any, None]:
    return read_import_stream(
        chunks,
        input_format="DYNAMODB_JSON",
        compression=compression,
        key_schema=PK,
        attribute_types=TYPES,
    )


class Source:
    """Chunks made on demand, counting what was fetched and whether it was closed."""

    def __init__(self, chunks: Iterable[bytes], fail: Exception | None = None) -> None:
        self.chunks = chunks
        self.fail = fail
        self.fetched = 0
        self.closed = False
        self.block = asyncio.Event()  # set: the fetch after the last chunk hangs

    async def stream(self) -> AsyncGenerator[bytes, None]:
        try:
            for chunk in self.chunks:
                self.fetched += 1
                yield chunk
            if self.fail is not None:
                raise self.fail
            if self.block.is_set():
                await asyncio.Event().wait()
        finally:
            self.closed = True


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "import-reader"]


def assert_no_reader_thread() -> None:
    for t in reader_threads():
        t.join(timeout=5)  # it may be returning after its last message
    assert reader_threads() == []


# ---------------------------------------------------------------- the directory store


async def test_directory_get_chunks(tmp_path: Path) -> None:
    objects = DirectoryObjects(tmp_path)
    await objects.ensure_bucket("src")
    data = bytes(range(256)) * 4099
    await objects.put("src", "in/data.json", data)
    chunks = [c async for c in objects.get_chunks("src", "in/data.json", 100_000)]
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks[:-1]] == [100_000] * (len(chunks) - 1)
    assert [c async for c in objects.get_chunks("src", "in/data.json")] == [data]
    with pytest.raises(NoSuchObject):
        await anext(objects.get_chunks("src", "in/absent"))
    with pytest.raises(NoSuchObject):
        await anext(objects.get_chunks("src", "in"))  # a "directory" is no object
    with pytest.raises(NoSuchBucket):
        await anext(objects.get_chunks("absent", "x"))
    with pytest.raises(BadObjectKey):
        await anext(objects.get_chunks("src", "../x"))
    with pytest.raises(ValueError):
        await anext(objects.get_chunks("src", "in/data.json", 0))


async def test_directory_get_chunks_closes_its_file(tmp_path: Path) -> None:
    objects = DirectoryObjects(tmp_path)
    await objects.ensure_bucket("src")
    await objects.put("src", "k", b"x" * 10)
    fds = Path("/proc/self/fd")
    before = len(list(fds.iterdir()))
    stream = objects.get_chunks("src", "k", 3)
    assert await anext(stream) == b"xxx"
    assert len(list(fds.iterdir())) == before + 1
    await stream.aclose()
    assert len(list(fds.iterdir())) == before


# ---------------------------------------------------------------- the stream reader


@pytest.mark.parametrize("compression", ["NONE", "GZIP"])
async def test_stream_gives_what_the_whole_object_gives(compression: str) -> None:
    raw = b"".join(json_line(n) for n in range(1000)) + b"not json\n" + json_line(1000)
    data = gzip.compress(raw) if compression == "GZIP" else raw
    pieces = [data[i : i + 777] for i in range(0, len(data), 777)]
    source = Source(pieces)
    async with aclosing(read(source.stream(), compression)) as entries:
        streamed = [e async for e in entries]
    whole = list(
        read_import_object(
            [data],
            input_format="DYNAMODB_JSON",
            compression=compression,
            key_schema=PK,
            attribute_types=TYPES,
        )
    )
    assert streamed == whole
    assert len(streamed) == 1002 and isinstance(streamed[1000], ItemError)
    assert source.fetched == len(pieces) and source.closed
    assert_no_reader_thread()


async def test_the_reader_stays_a_few_chunks_ahead() -> None:
    """However much the source holds, the thread fetches a chunk only when the reader
    needs one and parses a bounded number of entries ahead of the consumer."""
    lines_per_chunk = 50
    source = Source(
        b"".join(json_line(c * lines_per_chunk + n) for n in range(lines_per_chunk))
        for c in range(400)
    )
    consumed = 0
    most_ahead = 0
    async with aclosing(read(source.stream())) as entries:
        async for entry in entries:
            assert isinstance(entry, ParsedItem)
            assert entry.item["pk"]["S"] == f"k{consumed:08d}"
            consumed += 1
            most_ahead = max(most_ahead, source.fetched * lines_per_chunk - consumed)
            if consumed % 97 == 0:
                await asyncio.sleep(0.001)  # a consumer slower than the reader
    assert consumed == 400 * lines_per_chunk
    # chunks are fetched as the consumer asks for entries: never more than one ahead
    assert most_ahead <= 2 * lines_per_chunk


async def test_a_stalled_consumer_stops_the_reader() -> None:
    source = Source(json_line(n) for n in range(1_000_000))
    async with aclosing(read(source.stream())) as entries:
        await anext(entries)
        await asyncio.sleep(0.3)  # the thread could have read everything by now
        assert source.fetched <= 2
    assert source.closed
    assert_no_reader_thread()


async def test_memory_stays_bounded_whatever_the_object_size() -> None:
    """48 MiB streamed through the reader while tracemalloc counts every allocation
    (the thread's too): the peak is a small part of the object."""
    pad = 4000
    per_chunk = 256
    chunks = 48 * MiB // (per_chunk * (pad + 40))

    def make() -> Iterator[bytes]:
        for c in range(chunks):
            yield b"".join(json_line(c * per_chunk + n, pad) for n in range(per_chunk))

    source = Source(make())
    seen = 0
    total = 0
    tracemalloc.start()
    try:
        async with aclosing(read(source.stream())) as entries:
            async for entry in entries:
                seen += 1
                total += entry.size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == chunks * per_chunk and total > 47 * MiB
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_a_format_error_comes_after_the_entries_before_it() -> None:
    data = gzip.compress(b"".join(json_line(n) for n in range(300)))
    source = Source([data[: len(data) // 2], b"garbage" * 100])
    got: list[Any] = []
    with pytest.raises(ObjectFormatError):
        async with aclosing(read(source.stream(), "GZIP")) as entries:
            async for entry in entries:
                got.append(entry)
    # (the garbage may inflate to a bad line or two before zlib sees it is no deflate)
    assert len(got) > 100 and all(isinstance(e, ParsedItem) for e in got[:100])
    assert [e.index for e in got] == list(range(len(got)))
    assert source.closed
    assert_no_reader_thread()


async def test_a_source_failure_propagates() -> None:
    source = Source([json_line(0), json_line(1)], fail=ObjectStoreError("connection reset"))
    got: list[Any] = []
    with pytest.raises(ObjectStoreError, match="connection reset"):
        async with aclosing(read(source.stream())) as entries:
            async for entry in entries:
                got.append(entry)
    assert [e.index for e in got] == [0, 1]
    assert_no_reader_thread()


async def test_cancelled_while_fetching_a_chunk() -> None:
    source = Source([json_line(0)])
    source.block.set()
    got: list[Any] = []

    async def consume() -> None:
        async with aclosing(read(source.stream())) as entries:
            async for entry in entries:
                got.append(entry)

    task = asyncio.create_task(consume())
    while not got:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the source hangs on its next chunk
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert source.closed
    assert_no_reader_thread()


async def test_cancelled_while_consuming() -> None:
    source = Source(json_line(n) for n in range(1_000_000))

    async def consume() -> None:
        async with aclosing(read(source.stream())) as entries:
            async for _ in entries:
                await asyncio.sleep(3600)  # a commit that never ends

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert source.closed and source.fetched <= 2
    assert_no_reader_thread()


async def test_an_error_of_the_reader_itself_propagates() -> None:
    def broken(chunks: Iterable[bytes]) -> Iterator[ParsedItem]:
        for _ in chunks:
            raise RuntimeError("reader bug")
        yield from ()

    async def two() -> AsyncGenerator[bytes, None]:
        yield b"a"
        yield b"b"

    with pytest.raises(RuntimeError, match="reader bug"):
        async with aclosing(iterate_in_thread(two(), broken)) as entries:
            async for _ in entries:
                pass
    assert_no_reader_thread()
