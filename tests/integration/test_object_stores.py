"""One contract, every object store: files next to a SQLite store, rows of a SQLite
and of a PostgreSQL store, and a real S3-compatible server on 127.0.0.1
(tests/fixtures/s3.py).  Backups, PITR and exports (regions/protection/) rely on
exactly this behaviour whichever store a region has."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from regions.protection.database_objects import CHUNK_BYTES, DatabaseObjects
from regions.protection.directory_objects import DirectoryObjects
from regions.protection.objects import (
    BadObjectKey,
    NoSuchBucket,
    NoSuchObject,
    ObjectInfo,
    ObjectStore,
    ObjectStoreError,
)
from regions.protection.s3_objects import S3Objects
from regions.s3_settings import S3Settings
from regions.store import SqlStore, open_store_url
from tests.fixtures.s3 import S3Endpoint, unavailable

pytestmark = pytest.mark.integration

KINDS = ["directory", "database-sqlite", "database-postgresql", "s3"]


@pytest.fixture(params=KINDS)
async def objects(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    kind = request.param
    store: SqlStore | None = None
    if kind == "directory":
        yield DirectoryObjects(tmp_path / "objects")
        return
    if kind == "s3":
        server: S3Endpoint = request.getfixturevalue("s3_server")
        yield S3Objects(server.settings())
        return
    if kind == "database-sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
    else:
        factory: Callable[[], str] = request.getfixturevalue("postgres_db_factory")
        url = factory().replace("postgresql+asyncpg://", "postgresql://")
    store = open_store_url(url)
    await store.open()
    try:
        yield DatabaseObjects(store)
    finally:
        await store.close()


@pytest.fixture
async def bucket(objects: ObjectStore) -> str:
    # one bucket per test: the S3 server is shared by the session
    name = f"t-{uuid.uuid4().hex[:20]}"
    assert not await objects.bucket_exists(name)
    await objects.ensure_bucket(name)
    await objects.ensure_bucket(name)  # idempotent
    assert await objects.bucket_exists(name)
    return name


async def _list(objects: ObjectStore, bucket: str, prefix: str = "") -> list[ObjectInfo]:
    return [info async for info in objects.list(bucket, prefix)]


async def test_put_get_replace(objects: ObjectStore, bucket: str) -> None:
    await objects.put(bucket, "exports/01/manifest-summary.json", b'{"a": 1}')
    assert await objects.get(bucket, "exports/01/manifest-summary.json") == b'{"a": 1}'
    await objects.put(bucket, "exports/01/manifest-summary.json", b"second, longer value")
    assert await objects.get(bucket, "exports/01/manifest-summary.json") == b"second, longer value"
    await objects.put(bucket, "exports/01/manifest-summary.json", b"")
    assert await objects.get(bucket, "exports/01/manifest-summary.json") == b""
    assert await _list(objects, bucket) == [ObjectInfo("exports/01/manifest-summary.json", 0)]


async def test_bytes_round_trip_exactly(objects: ObjectStore, bucket: str) -> None:
    every_byte = bytes(range(256)) * 17 + b"\r\n\x00\xff"
    await objects.put(bucket, "bin/all-bytes", every_byte)
    assert await objects.get(bucket, "bin/all-bytes") == every_byte
    # keys beyond ASCII, spaces and punctuation S3 allows
    key = "data/été 日本/a+b=c&d,e;f(1)!~'x.json.gz"
    await objects.put(bucket, key, b"\x1f\x8b")
    assert await objects.get(bucket, key) == b"\x1f\x8b"
    assert [i.key for i in await _list(objects, bucket, "data/")] == [key]


async def test_list_prefix_in_key_order(objects: ObjectStore, bucket: str) -> None:
    keys = ["b/2", "a/1", "a/10", "a/2", "a-x", "ab", "a/sub/deep/z", "b/1"]
    for i, key in enumerate(keys):
        await objects.put(bucket, key, b"x" * i)
    listed = await _list(objects, bucket)
    assert [i.key for i in listed] == sorted(keys, key=lambda k: k.encode())
    assert {i.key: i.size for i in listed} == {k: n for n, k in enumerate(keys)}
    assert [i.key for i in await _list(objects, bucket, "a/")] == [
        "a/1",
        "a/10",
        "a/2",
        "a/sub/deep/z",
    ]
    # a prefix may end inside a segment
    assert [i.key for i in await _list(objects, bucket, "a")] == [
        "a-x",
        "a/1",
        "a/10",
        "a/2",
        "a/sub/deep/z",
        "ab",
    ]
    assert [i.key for i in await _list(objects, bucket, "a/1")] == ["a/1", "a/10"]
    assert await _list(objects, bucket, "c/") == []
    assert await _list(objects, bucket, "a/sub/deep/z/more") == []


async def test_list_more_than_a_thousand(objects: ObjectStore, bucket: str) -> None:
    keys = [f"data/{n:05d}.json" for n in range(1203)]
    sem = asyncio.Semaphore(16)

    async def put(key: str) -> None:
        async with sem:
            await objects.put(bucket, key, key.encode())

    await asyncio.gather(*(put(k) for k in keys))
    await objects.put(bucket, "other/x", b"")
    listed = await _list(objects, bucket, "data/")
    assert [i.key for i in listed] == keys
    assert all(i.size == len(i.key) for i in listed)
    assert len(await _list(objects, bucket)) == 1204


async def test_delete(objects: ObjectStore, bucket: str) -> None:
    await objects.put(bucket, "a/b/c", b"1")
    await objects.put(bucket, "a/d", b"2")
    await objects.delete(bucket, "a/b/c")
    await objects.delete(bucket, "a/b/c")  # absent: not an error
    await objects.delete(bucket, "never/there")
    with pytest.raises(NoSuchObject):
        await objects.get(bucket, "a/b/c")
    assert [i.key for i in await _list(objects, bucket)] == ["a/d"]
    # the key can be written again after a delete
    await objects.put(bucket, "a/b/c", b"3")
    assert await objects.get(bucket, "a/b/c") == b"3"


async def test_missing_object_and_bucket(objects: ObjectStore, bucket: str) -> None:
    with pytest.raises(NoSuchObject):
        await objects.get(bucket, "nothing/here")
    missing = f"t-missing-{uuid.uuid4().hex[:12]}"
    assert not await objects.bucket_exists(missing)
    with pytest.raises(NoSuchBucket):
        await objects.get(missing, "x")
    with pytest.raises(NoSuchBucket):
        await objects.put(missing, "x", b"1")
    with pytest.raises(NoSuchBucket):
        await _list(objects, missing)
    # both are object store errors, and neither is the other
    assert issubclass(NoSuchBucket, ObjectStoreError)
    assert not issubclass(NoSuchBucket, NoSuchObject)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/leading",
        "trailing/",
        "double//slash",
        "../escape",
        "a/../../escape",
        "a/./b",
        ".",
        "nul\x00byte",
        "x" * 1025,
        "é" * 513,  # 1026 bytes of UTF-8
    ],
)
async def test_bad_keys_refused(objects: ObjectStore, bucket: str, key: str) -> None:
    with pytest.raises(BadObjectKey):
        await objects.put(bucket, key, b"1")
    with pytest.raises(BadObjectKey):
        await objects.get(bucket, key)
    with pytest.raises(BadObjectKey):
        await objects.delete(bucket, key)
    assert await _list(objects, bucket) == []


async def test_longest_key_accepted(objects: ObjectStore, bucket: str) -> None:
    # 1024 bytes of UTF-8 in segments a file system takes (<= 255 bytes each)
    key = "/".join(["k" * 200] * 5) + "/" + "v" * 19
    assert len(key.encode()) == 1024
    await objects.put(bucket, key, b"ok")
    assert await objects.get(bucket, key) == b"ok"


@pytest.mark.parametrize("name", ["ab", "UPPER", "under_score", "-dash", "a" * 64, "1.2.3.4"])
async def test_bad_bucket_names_refused(objects: ObjectStore, name: str) -> None:
    with pytest.raises(BadObjectKey):
        await objects.ensure_bucket(name)


async def test_twenty_megabytes(objects: ObjectStore, bucket: str) -> None:
    data = os.urandom(20 * 1024 * 1024 + 7)  # not a whole number of chunks
    await objects.put(bucket, "big/snapshot.bin", data)
    assert await objects.get(bucket, "big/snapshot.bin") == data
    assert await _list(objects, bucket, "big/") == [ObjectInfo("big/snapshot.bin", len(data))]
    # replaced by a smaller object: nothing of the bigger one is left
    await objects.put(bucket, "big/snapshot.bin", data[: CHUNK_BYTES + 1])
    assert await objects.get(bucket, "big/snapshot.bin") == data[: CHUNK_BYTES + 1]
    assert await _list(objects, bucket, "big/") == [ObjectInfo("big/snapshot.bin", CHUNK_BYTES + 1)]


async def _chunks(objects: ObjectStore, bucket: str, key: str, size: int) -> list[bytes]:
    return [chunk async for chunk in objects.get_chunks(bucket, key, size)]


async def test_get_chunks_streams_the_object(objects: ObjectStore, bucket: str) -> None:
    data = os.urandom(3 * CHUNK_BYTES + 7)  # past the database store's chunk rows
    await objects.put(bucket, "big/object.bin", data)
    for size in (CHUNK_BYTES, 300_001, 8 * CHUNK_BYTES):
        chunks = await _chunks(objects, bucket, "big/object.bin", size)
        assert b"".join(chunks) == data
        assert all(0 < len(c) <= size for c in chunks)
        assert len(chunks) >= -(-len(data) // size)
    # the default piece size, and a small object in one piece
    assert b"".join([c async for c in objects.get_chunks(bucket, "big/object.bin")]) == data
    await objects.put(bucket, "small", b"abc")
    assert await _chunks(objects, bucket, "small", 1 << 20) == [b"abc"]
    await objects.put(bucket, "empty", b"")
    assert await _chunks(objects, bucket, "empty", 1 << 20) == []


async def test_get_chunks_stops_early_and_errs_as_get(objects: ObjectStore, bucket: str) -> None:
    data = os.urandom(2 * CHUNK_BYTES + 1)
    await objects.put(bucket, "k", data)
    stream = objects.get_chunks(bucket, "k", CHUNK_BYTES)
    assert await anext(stream) == data[:CHUNK_BYTES]
    await stream.aclose()  # releases what it reads: the object can be replaced, read again
    await objects.put(bucket, "k", b"new")
    assert await _chunks(objects, bucket, "k", CHUNK_BYTES) == [b"new"]
    with pytest.raises(NoSuchObject):
        await _chunks(objects, bucket, "nothing/here", CHUNK_BYTES)
    with pytest.raises(NoSuchBucket):
        await _chunks(objects, f"t-missing-{uuid.uuid4().hex[:12]}", "x", CHUNK_BYTES)
    with pytest.raises(BadObjectKey):
        await _chunks(objects, bucket, "../escape", CHUNK_BYTES)


async def test_concurrent_puts_of_one_key(objects: ObjectStore, bucket: str) -> None:
    values = [bytes([n]) * (CHUNK_BYTES // 2 + n * 300_000) for n in range(6)]
    await asyncio.gather(*(objects.put(bucket, "race/key", v) for v in values))
    assert await objects.get(bucket, "race/key") in values


async def test_s3_errors_carry_no_secret(s3_server: S3Endpoint) -> None:
    right = s3_server.settings()
    wrong = S3Settings(
        endpoint_url=right.endpoint_url,
        region=right.region,
        access_key_id=right.access_key_id,
        secret_access_key="wrong-secret-0123456789abcdefghijklmnopq",
    )
    store = S3Objects(wrong, connect_timeout_s=2, read_timeout_s=5)
    with pytest.raises(ObjectStoreError) as err:
        await store.get("globaltables-anything", "x")
    assert "wrong-secret" not in str(err.value)
    assert "wrong-secret" not in repr(wrong) and "wrong-secret" not in store.description
    # nothing listens there: an ObjectStoreError, not a botocore exception
    gone = S3Objects(
        S3Settings(endpoint_url="http://127.0.0.1:9", access_key_id="a", secret_access_key="b"),
        connect_timeout_s=1,
        read_timeout_s=1,
    )
    with pytest.raises(ObjectStoreError):
        await gone.bucket_exists("globaltables-x")


async def test_region_object_store_and_bucket(s3_server: S3Endpoint, tmp_path: Path) -> None:
    """A region gets files next to its SQLite store by default, the S3 service when
    configured, and its own bucket is created when it opens."""
    from regions.region import Region
    from regions.settings import RegionSettings

    plain = Region(RegionSettings(name="us-east-1", store_url=f"sqlite:///{tmp_path}/a.db"))
    await plain.open()
    try:
        assert isinstance(plain.objects, DirectoryObjects)
        assert (tmp_path / "a.db.objects" / "globaltables-us-east-1").is_dir()
        await plain.objects.put(plain.objects_bucket, "k", b"v")
        assert await plain.objects.get(plain.objects_bucket, "k") == b"v"
    finally:
        await plain.close()

    bucket = f"gt-region-{uuid.uuid4().hex[:12]}"
    settings = RegionSettings(
        name="eu-west-1", store_url=f"sqlite:///{tmp_path}/b.db", s3=s3_server.settings(bucket)
    )
    region = Region(settings)
    await region.open()
    try:
        assert isinstance(region.objects, S3Objects)
        assert region.objects_bucket == bucket
        assert await region.objects.bucket_exists(bucket)
        assert not (tmp_path / "b.db.objects").exists()
    finally:
        await region.close()


def test_cli_s3_server_keeps_its_data(tmp_path: Path) -> None:
    """`globaltables s3 start --env` / `stop`: a detached versitygw whose buckets
    survive a restart, with the key pair the printed variables give."""
    import subprocess
    import sys

    from globaltables import s3_local
    from globaltables.wan.ports import free_port

    try:
        s3_local.ensure()
    except s3_local.S3Unavailable as exc:
        unavailable(str(exc))  # fails on CI
    cli = [sys.executable, "-m", "globaltables.cli", "s3"]
    data = tmp_path / "s3"
    port = str(free_port())

    def start() -> dict[str, str]:
        out = subprocess.run(
            [*cli, "start", "--data", str(data), "--port", port, "--env"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return dict(
            line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line
        )

    def stop() -> None:
        subprocess.run([*cli, "stop", "--data", str(data)], timeout=30, check=True)

    async def put_then_get(env: dict[str, str], write: bool) -> bytes:
        s3 = S3Objects(
            S3Settings(
                endpoint_url=env["AWS_ENDPOINT_URL_S3"],
                region=env["AWS_REGION"],
                access_key_id=env["AWS_ACCESS_KEY_ID"],
                secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            )
        )
        if write:
            await s3.ensure_bucket("kept")
            await s3.put("kept", "a/b", b"survives")
        return await s3.get("kept", "a/b")

    try:
        env = start()
        assert asyncio.run(put_then_get(env, True)) == b"survives"
        stop()
        env = start()
        assert asyncio.run(put_then_get(env, False)) == b"survives"
    finally:
        stop()
    assert s3_local.LocalS3.running(data) is None
