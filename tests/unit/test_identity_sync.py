"""replicator/identity_sync.py between two in-process regions on temporary SQLite
files (the peer read through LocalReplica, the same protocol HttpReplica speaks):
the region pulls what it lacks or holds older, keeps what it holds newer, respects
tombstones, and never writes into the peer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from regions import system_tables
from regions.auth_settings import AuthSettings
from regions.identities import Identities
from regions.keys import decode_key
from regions.region import Region
from regions.settings import RegionSettings
from replicator.identity_sync import IdentitySync, LocalReplica

AUTH = AuthSettings(secret_key="unit-secret-key-0123456789")
POLICY = {"Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}


async def _rows(region: Region) -> dict[str, tuple[int, str, bool]]:
    """pk -> (hlc, origin, live) of every identities row, tombstones included."""
    with system_tables.access():
        tid, spec = await region.control.table_ref(system_tables.IDENTITIES)
    async with region.store.read() as tx:
        rows = await tx.scan_all_rows(tid, limit=10_000)
    return {
        decode_key(r.hk, r.rk, spec.key_schema)["pk"]["S"]: (
            r.version.hlc,
            r.version.origin,
            r.data is not None,
        )
        for r in rows
    }


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Region, Region]]:
    old = Region(
        RegionSettings("us-east-1", f"sqlite:///{tmp_path}/old.db", peers={"eu-west-1": "x"})
    )
    new = Region(
        RegionSettings(
            "eu-west-1", f"sqlite:///{tmp_path}/new.db", partitions=3, peers={"us-east-1": "x"}
        )
    )
    await old.open()
    await new.open()
    try:
        yield old, new
    finally:
        await old.close()
        await new.close()


async def test_a_region_pulls_what_it_lacks_and_keeps_tombstones(
    pair: tuple[Region, Region],
) -> None:
    old, new = pair
    ids_old, ids_new = Identities(old, AUTH), Identities(new, AUTH)
    await ids_old.create_user("alice", [POLICY])
    kept = await ids_old.create_key("alice")
    gone = await ids_old.create_key("alice")
    await ids_old.revoke_key(gone.key.access_key_id)
    # the new region wrote something of its own meanwhile: the peer lacks it
    await ids_new.create_user("bob")
    before_old = await _rows(old)

    sync = IdentitySync(new, interval_s=30)
    result = await sync.sync_peer(LocalReplica(old))
    assert result.pulled >= 2  # alice and her live key (the tombstone too, if needed)
    resolved = await ids_new.resolve(kept.key.access_key_id)
    assert resolved is not None and resolved.secret_access_key == kept.secret_access_key
    assert await ids_new.resolve(gone.key.access_key_id) is None
    assert [u.name for u in await ids_new.list_users()] == ["alice", "bob"]
    # pull-only: the peer is untouched (bob is its own round's business)
    assert await _rows(old) == before_old
    # versions are the writer's: a second round finds nothing to do
    again = await sync.sync_peer(LocalReplica(old))
    assert again.pulled == 0
    # and from the other side, the old region gets bob, and only bob
    back = await IdentitySync(old, interval_s=30).sync_peer(LocalReplica(new))
    assert back.pulled == 1
    assert [u.name for u in await ids_old.list_users()] == ["alice", "bob"]


async def test_a_newer_row_here_is_kept_and_a_revocation_there_wins(
    pair: tuple[Region, Region],
) -> None:
    old, new = pair
    ids_old, ids_new = Identities(old, AUTH), Identities(new, AUTH)
    await ids_old.create_user("carol", [POLICY])
    key = await ids_old.create_key("carol")
    await IdentitySync(new, interval_s=30).sync_peer(LocalReplica(old))
    assert await ids_new.resolve(key.key.access_key_id) is not None
    # carol's policies changed here afterwards: newer than the peer's copy, kept
    await ids_new.set_policies("carol", [])
    await IdentitySync(new, interval_s=30).sync_peer(LocalReplica(old))
    assert (await ids_new.get_user("carol")).policies == ()
    # the key revoked in the peer: the tombstone is newer than the live copy here
    await ids_old.revoke_key(key.key.access_key_id)
    await IdentitySync(new, interval_s=30).sync_peer(LocalReplica(old))
    ids_new._cache.clear()
    assert await ids_new.resolve(key.key.access_key_id) is None
    rows = await _rows(new)
    assert rows[f"key#{key.key.access_key_id}"][2] is False  # a tombstone, not a gap
