"""Data protection's singleton job, run on the region's leader (api/app.py
``leading``): resume what a crash left unfinished (backups CREATING, restores), then
keep the PITR snapshots and windows (regions/protection/pitr.py) until cancelled."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from regions.protection import backups, exports, imports, pitr, restore

if TYPE_CHECKING:
    from regions.region import Region

__all__ = ["run_protection"]

log = logging.getLogger("globaltables.protection")


async def run_protection(region: Region) -> None:
    try:
        await restore.resume(region)
        await backups.resume(region)
    except Exception as exc:  # the next leader (or restart) tries again
        log.error("could not resume backups and restores: %s: %s", exc.__class__.__name__, exc)
    try:
        await exports.resume(region)
        await imports.resume(region)
    except Exception as exc:  # the next leader (or restart) tries again
        log.error("could not resume exports and imports: %s: %s", exc.__class__.__name__, exc)
    await pitr.run_pitr(region)
