"""The store's relational schema, shared by the SQLite and PostgreSQL backends.

Rows are keyed ``(tid, part, hk, rk)``: ``tid`` is the region-local table number,
``part`` the partition (hash of the partition key), ``hk``/``rk`` the
order-preserving encodings of the partition and sort key (``regions.keys``), so a
Query is a primary-key range scan and a Scan walks partitions in key order.

``data`` holds the canonical item encoding; NULL marks a tombstone (invariant 4):
the row keeps the delete's version so that an older write arriving late loses.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "backups",
    "changes",
    "conflicts",
    "exports",
    "imports",
    "index_entries",
    "items",
    "meta",
    "metadata",
    "objects",
    "pitr",
    "pitr_log",
    "pitr_snapshots",
    "quarantine",
    "restores",
    "retired_tables",
    "tables",
    "verify_buckets",
]

metadata = MetaData()

# SQLite only makes INTEGER PRIMARY KEY an alias of rowid (autoincrementing);
# PostgreSQL gets a BIGINT identity.
_SeqType = BigInteger().with_variant(Integer(), "sqlite")

meta = Table(
    "gt_meta",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)

tables = Table(
    "gt_tables",
    metadata,
    Column("tid", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("table_id", String(64), nullable=False),
    Column("spec", Text, nullable=False),
)

items = Table(
    "gt_items",
    metadata,
    Column("tid", Integer, primary_key=True, autoincrement=False),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("hk", LargeBinary, primary_key=True),
    Column("rk", LargeBinary, primary_key=True),
    Column("hlc", BigInteger, nullable=False),
    Column("origin", String(64), nullable=False),
    Column("data", LargeBinary, nullable=True),
    Column("size", Integer, nullable=False),
    # when the tombstone was written (local wall ms), for horizon GC
    Column("tomb_ms", BigInteger, nullable=True),
    # clustered on the key in SQLite, so range scans read contiguous pages
    sqlite_with_rowid=False,
)

changes = Table(
    "gt_changes",
    metadata,
    Column("seq", _SeqType, primary_key=True, autoincrement=True),
    Column("tid", Integer, nullable=False),
    Column("part", Integer, nullable=False),
    Column("event", String(8), nullable=False),
    Column("hlc", BigInteger, nullable=False),
    Column("origin", String(64), nullable=False),
    Column("record", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # a local-origin change not yet acknowledged by Kafka
    Column("pending", Boolean, nullable=False),
)

# A deleted table whose stream must outlive it: DynamoDB keeps a deleted table's
# stream listed (DISABLED) and readable for the stream retention.  ``tid`` is the
# dropped table's number, which its change records in gt_changes still carry; the
# name of the table is free for a new table (with a new tid) meanwhile.
retired_tables = Table(
    "gt_retired_tables",
    metadata,
    Column("tid", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
    # the TableSpec as it was, its streams closed at the drop
    Column("spec", Text, nullable=False),
    Column("dropped_ms", BigInteger, nullable=False),
)

index_entries = Table(
    "gt_index",
    metadata,
    Column("tid", Integer, primary_key=True, autoincrement=False),
    Column("iid", Integer, primary_key=True, autoincrement=False),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("hk", LargeBinary, primary_key=True),
    Column("rk", LargeBinary, primary_key=True),
    # the table key (regions.indexes.table_key_bytes): index keys need not be unique
    Column("tk", LargeBinary, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    sqlite_with_rowid=False,
)

conflicts = Table(
    "gt_conflicts",
    metadata,
    Column("id", _SeqType, primary_key=True, autoincrement=True),
    Column("table_name", String(255), nullable=False),
    Column("keys", Text, nullable=False),
    Column("winner_hlc", BigInteger, nullable=False),
    Column("winner_origin", String(64), nullable=False),
    Column("loser_hlc", BigInteger, nullable=False),
    Column("loser_origin", String(64), nullable=False),
    # the losing image (NULL for a losing delete), so a user can see what was lost
    Column("loser_image", Text, nullable=True),
    Column("at_ms", BigInteger, nullable=False),
)

# Remote change records that were not applied (invariant 9): whatever failed the
# signature, the format or the table's checks, or raised while applied, kept with
# where it came from and its exact bytes so an operator can inspect, replay or drop
# it (replicator/quarantine.py).  Never read by the write path.
quarantine = Table(
    "gt_quarantine",
    metadata,
    Column("id", _SeqType, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("source", String(64), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    # the table the record names, when it could be read (filters and authorization)
    Column("table_name", String(255), nullable=True),
    Column("msg_key", LargeBinary, nullable=True),
    Column("msg_value", LargeBinary, nullable=True),
    # the Kafka headers as JSON [[name, base64], ...]
    Column("headers", Text, nullable=False),
)

# The convergence verifier's leaves (regions/verify_tree.py): one row per
# (table, partition, bucket), with the number of live items and the sum of their
# 128-bit row digests, kept by WriteTx.put_row in the item's own transaction.
# The sum is kept as four exact sums of the digests' 32-bit limbs (s0 lowest), so
# a write is one additive upsert (no read-modify-write, no 128-bit arithmetic in
# SQL) and a BIGINT cannot overflow below 2**31 items per row.  Per partition, so
# that writers serialised by the partition lock never contend on a shared row;
# the tree adds the partitions up.
verify_buckets = Table(
    "gt_verify",
    metadata,
    Column("tid", Integer, primary_key=True, autoincrement=False),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("bucket", Integer, primary_key=True, autoincrement=False),
    Column("live", BigInteger, nullable=False),
    Column("s0", BigInteger, nullable=False),
    Column("s1", BigInteger, nullable=False),
    Column("s2", BigInteger, nullable=False),
    Column("s3", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# The object store of a region with no S3 service and a PostgreSQL store
# (regions/protection/database_objects.py): backups, PITR snapshots and exports kept in
# the database, so every node of the region sees them.  An object is its chunks of at
# most 1 MiB, 0, 1, ... in order, written in one transaction; ``key`` is the key's
# UTF-8 bytes (so both backends order keys as S3 does, bytewise).  A bucket exists
# while its marker row (empty key, chunk 0) does.
objects = Table(
    "gt_objects",
    metadata,
    Column("bucket", String(63), primary_key=True),
    Column("key", LargeBinary, primary_key=True),
    Column("chunk", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

# -- data protection (regions/protection/): what the region knows of its backups,
# point-in-time recovery and restores.  In the store, not in the object store, so that
# every node of a region sees it and it outlives DeleteTable; the objects themselves
# (the items) live in the region's object store.

# On-demand backups (CreateBackup): one row per backup, kept after the table is gone.
backups = Table(
    "gt_backups",
    metadata,
    Column("arn", String(1024), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("table_name", String(255), nullable=False),
    Column("table_id", String(64), nullable=False),
    # the source table's number while it is being backed up (a resumed backup reads it)
    Column("tid", Integer, nullable=False),
    # CREATING | AVAILABLE (a DELETED backup's row is gone)
    Column("status", String(16), nullable=False),
    Column("type", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("item_count", BigInteger, nullable=False),
    # the source table's spec (TableSpec JSON) at the backup's instant
    Column("spec", Text, nullable=False),
    # where its objects are, in the region's bucket
    Column("prefix", String(512), nullable=False),
)

# Point-in-time recovery of one table in this region (per replica, never replicated).
pitr = Table(
    "gt_pitr",
    metadata,
    Column("tid", Integer, primary_key=True, autoincrement=False),
    Column("table_id", String(64), nullable=False),
    Column("period_days", Integer, nullable=False),
    # when it was enabled; restorable from its base snapshot on
    Column("enabled_ms", BigInteger, nullable=False),
)

# The snapshots PITR restores start from (regions/protection/pitr.py).
pitr_snapshots = Table(
    "gt_pitr_snapshots",
    metadata,
    Column("tid", Integer, primary_key=True, autoincrement=False),
    Column("taken_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("prefix", String(512), nullable=False),
    # false until every object is written (a crash leaves an incomplete one behind)
    Column("complete", Boolean, nullable=False),
    sqlite_with_rowid=False,
)

# Change records of PITR tables older than the stream retention: moved here from
# gt_changes by the trim that would have dropped them (WriteTx.trim_changes), in its
# transaction, so the Streams API sees only its retention and PITR keeps its window.
pitr_log = Table(
    "gt_pitr_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("tid", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("record", LargeBinary, nullable=False),
)

# Restores in progress (RestoreTableFromBackup, RestoreTableToPointInTime): the durable
# marker a leader resumes or fails after a crash.  Gone once the table is ACTIVE.
restores = Table(
    "gt_restores",
    metadata,
    Column("table_id", String(64), primary_key=True),
    Column("table_name", String(255), nullable=False),
    # what to restore: JSON {"backup_arn"} or {"source_tid", "source_table_id", "at_ms"}
    Column("source", Text, nullable=False),
    # the new table's spec (TableSpec JSON, status CREATING)
    Column("spec", Text, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
)

# Exports (ExportTableToPointInTime) and imports (ImportTable): one row each, so every
# node of the region describes and lists them and the leader resumes or fails one a
# crash left IN_PROGRESS (regions/protection/exports.py, imports.py).  ``doc`` is the
# JSON of what DescribeExport / DescribeImport show and the job needs.
exports = Table(
    "gt_exports",
    metadata,
    Column("arn", String(1024), primary_key=True),
    Column("table_arn", String(1024), nullable=False),
    # IN_PROGRESS | COMPLETED | FAILED
    Column("status", String(16), nullable=False),
    Column("client_token", String(1024), nullable=True),
    Column("started_ms", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
)

imports = Table(
    "gt_imports",
    metadata,
    Column("arn", String(1024), primary_key=True),
    Column("table_arn", String(1024), nullable=False),
    Column("table_name", String(255), nullable=False),
    # IN_PROGRESS | COMPLETED | FAILED
    Column("status", String(16), nullable=False),
    Column("client_token", String(1024), nullable=True),
    Column("started_ms", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
)

Index("ix_gt_conflicts_at", conflicts.c.at_ms)
Index("ix_gt_pitr_log_table", pitr_log.c.tid, pitr_log.c.created_ms)
Index("ix_gt_backups_created", backups.c.created_ms)
Index("ix_gt_quarantine_at", quarantine.c.at_ms)
Index("ix_gt_changes_pending", changes.c.pending, changes.c.seq)
Index("ix_gt_changes_shard", changes.c.tid, changes.c.part, changes.c.seq)
Index("ix_gt_items_tomb", items.c.tomb_ms)
Index("ix_gt_retired_tables_name", retired_tables.c.name)
