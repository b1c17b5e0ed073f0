"""Which object store a region gets (:attr:`regions.region.Region.objects`).

- **S3 configured** (``RegionSettings.s3``, regions/s3_settings.py): that service,
  :class:`~regions.protection.s3_objects.S3Objects`.
- **Otherwise, next to the store**, so the embedded setup protects data with no
  extra service:

  - a SQLite store ``/path/region.db``: files under ``/path/region.db.objects/``
    (:class:`~regions.protection.directory_objects.DirectoryObjects`);
  - a PostgreSQL store: rows of the database itself
    (:class:`~regions.protection.database_objects.DatabaseObjects`), which every node
    of a region over that database sees;
  - a SQLite store with no file (an in-memory database, only in tests): rows of that
    database too, as for PostgreSQL, so they live and die with it.

The region's own bucket (backups, PITR snapshots) is ``S3Settings.bucket_for`` with
S3, and ``globaltables-<region>`` otherwise; :func:`ensure_region_bucket` creates it
when the region opens.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.engine import make_url

from regions.errors import ValidationError
from regions.protection.objects import ObjectStore, ObjectStoreError
from regions.settings import RegionSettings
from regions.store import SqlStore

__all__ = [
    "ensure_region_bucket",
    "open_object_store",
    "refuse_region_bucket",
    "region_bucket",
    "sqlite_objects_dir",
]

log = logging.getLogger("globaltables.objects")


def region_bucket(settings: RegionSettings) -> str:
    """The bucket of the region's own backups and snapshots."""
    if settings.s3 is not None:
        return settings.s3.bucket_for(settings.name)
    return f"globaltables-{settings.name}"


def sqlite_objects_dir(store_url: str) -> Path | None:
    """``<dbfile>.objects`` of a SQLite store URL with a file, else None."""
    u = make_url(store_url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    if u.query.get("mode") == "memory":
        return None
    return Path(f"{u.database}.objects")


def open_object_store(settings: RegionSettings, store: SqlStore) -> ObjectStore:
    """The region's object store (module docstring); nothing is opened or created
    here (a DatabaseObjects is usable once ``store`` is open)."""
    if settings.s3 is not None:
        from regions.protection.s3_objects import S3Objects

        return S3Objects(settings.s3)
    if store.backend == "sqlite":
        directory = sqlite_objects_dir(store.url)
        if directory is not None:
            from regions.protection.directory_objects import DirectoryObjects

            return DirectoryObjects(directory)
    from regions.protection.database_objects import DatabaseObjects

    return DatabaseObjects(store)


async def ensure_region_bucket(
    objects: ObjectStore, bucket: str, *, timeout_s: float = 30.0
) -> bool:
    """Create the region's bucket if missing; True when it exists.  An object store
    that cannot be reached is logged, not fatal: the region serves its tables, and
    the backups that need the bucket fail with the store's error."""
    try:
        await asyncio.wait_for(objects.ensure_bucket(bucket), timeout_s)
        return True
    except (ObjectStoreError, TimeoutError) as e:
        log.warning(
            "object store %s: cannot create bucket %s: %s",
            objects.description,
            bucket,
            e or "timed out",
        )
        return False


def refuse_region_bucket(bucket: str, region_bucket_name: str) -> None:
    """An export or import naming the region's own bucket is refused: it holds every
    table's backups and PITR snapshots, which an ImportTable would otherwise read into a
    new table (whatever the caller may read of the source tables) and an export could
    write among."""
    if bucket == region_bucket_name:
        raise ValidationError(
            f"S3Bucket {bucket} is the bucket of this region's own backups and snapshots; "
            "exports and imports use another bucket"
        )
