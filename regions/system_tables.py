"""Tables the service keeps for itself, replicated like any global table but out of
users' sight.

The identities table (users and access keys, ``regions/identities.py``) must reach
every region, so it rides the ordinary replication path: its writes append change
records in the same transaction (invariant 1), the publisher ships them through
Kafka and peers apply them with last-writer-wins.  For that, every region must hold
it under the same ``table_id`` with itself in the replica set, without any region
having to tell the others (as ``UpdateTable ReplicaUpdates`` would): the id is a
fixed uuid5 and each region creates its copy when it starts, with itself and its
peers as replicas.

Its name is not a valid DynamoDB table name (``:``), so CreateTable can never clash
with it; ``Region`` hides it from ListTables and answers ResourceNotFound to every
API call naming it, unless the caller is inside :func:`access` (the identities
module and the replication applier).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from regions.catalog import Replica, TableSpec
from regions.keys import KeyAttr, KeySchema

__all__ = ["IDENTITIES", "IDENTITIES_ID", "NAMES", "access", "hidden", "identities_spec"]

IDENTITIES = "globaltables:identities"
#: the same in every region and every deployment: replicas must share the table id
IDENTITIES_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:globaltables:system-table:identities"))
NAMES = frozenset({IDENTITIES})

_access: ContextVar[bool] = ContextVar("globaltables_system_access", default=False)


@contextmanager
def access() -> Iterator[None]:
    """Within this block (this task only) system tables are reachable by name."""
    token = _access.set(True)
    try:
        yield
    finally:
        _access.reset(token)


def hidden(name: str) -> bool:
    """Whether a table name must look absent to the current caller."""
    return name in NAMES and not _access.get()


def identities_spec(region: str, peers: Iterable[str], partitions: int) -> TableSpec:
    replicas = tuple(Replica(r) for r in sorted({region, *peers}))
    return TableSpec(
        name=IDENTITIES,
        table_id=IDENTITIES_ID,
        key_schema=KeySchema(KeyAttr("pk", "S")),
        attributes={"pk": "S"},
        created_at=time.time(),
        partitions=partitions,
        billing_mode="PAY_PER_REQUEST",
        replicas=replicas,
    )
