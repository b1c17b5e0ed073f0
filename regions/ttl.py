"""Time to Live: the table setting and the background sweeper that expires items.

The setting lives in the table's :class:`~regions.catalog.TableSpec`
(``ttl_attribute``, ``ttl_changed_at``) and is changed only through
:meth:`ControlPlane.update_spec`.  DynamoDB's rules, as the service words them:

* enabling while enabled is refused ("TimeToLive is already enabled"), and so is
  enabling a different attribute: switching attributes means disable, then enable;
* disabling must name the current attribute, and disabling while disabled is refused;
* at most one change per window (an hour in DynamoDB; ``ttl_change_window_s`` here,
  so tests can use 0).

Unlike DynamoDB there is no ENABLING/DISABLING phase: a change applies at once.

Expiry (``is_expired``): the attribute must be a top-level N of epoch seconds; the
item is expired once ``now > ttl``; values more than five years in the past are
taken as malformed and ignored (the item never expires).  Expired items stay
readable until the sweeper deletes them, exactly as in DynamoDB.

The sweeper deletes with ``service=True`` so the change record carries the service
identity (Streams ``userIdentity``).  Only the region that expires an item deletes
it that way; the other replicas receive an ordinary replicated delete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from regions.catalog import TableSpec
from regions.errors import ConditionalCheckFailed, ResourceNotFound, ValidationError
from regions.region import Region
from regions.types import Item, number_key

__all__ = [
    "FIVE_YEARS_S",
    "MSG_ALREADY_DISABLED",
    "MSG_ALREADY_ENABLED",
    "MSG_TOO_OFTEN",
    "changed_spec",
    "is_expired",
    "run_sweeper",
    "sweep_once",
    "ttl_attribute",
    "update_ttl",
]

log = logging.getLogger("globaltables.ttl")

# The messages DynamoDB sends (as quoted by SDK users and emulators tested against it).
MSG_ALREADY_ENABLED = "TimeToLive is already enabled"
MSG_ALREADY_DISABLED = "TimeToLive is already disabled"
MSG_TOO_OFTEN = "Time to live has been modified multiple times within a fixed interval"
_MSG_OTHER_ATTRIBUTE = (
    "TimeToLive is active on a different AttributeName: current AttributeName is {}"
)

#: "more than five years in the past" (Gregorian years, as std::chrono::years in
#: ScyllaDB Alternator's implementation of the same rule)
FIVE_YEARS_S = Decimal(5 * 146097 * 86400) / 400

#: items read per scan page while sweeping; small pages keep each read short
_PAGE = 256


# ------------------------------------------------------------------ the setting


def changed_spec(
    spec: TableSpec, *, enabled: bool, attribute: str, now: float, window_s: float
) -> TableSpec:
    """The spec after UpdateTimeToLive, or the ValidationException DynamoDB gives.

    Pure, so :meth:`ControlPlane.update_spec` can apply it."""
    current = spec.ttl_attribute
    if enabled:
        if current is not None:
            # the same attribute again and a different one are worded differently
            raise ValidationError(
                MSG_ALREADY_ENABLED
                if current == attribute
                else _MSG_OTHER_ATTRIBUTE.format(current)
            )
    else:
        if current is None:
            raise ValidationError(MSG_ALREADY_DISABLED)
        if current != attribute:
            raise ValidationError(_MSG_OTHER_ATTRIBUTE.format(current))
    # the rate limit applies to valid changes only: a refused request changes nothing
    if spec.ttl_changed_at and now - spec.ttl_changed_at < window_s:
        raise ValidationError(MSG_TOO_OFTEN)
    return replace(spec, ttl_attribute=attribute if enabled else None, ttl_changed_at=now)


async def update_ttl(
    region: Region, table: str, *, enabled: bool, attribute: str, now: float | None = None
) -> TableSpec:
    """UpdateTimeToLive: switch TTL on or off for ``table`` (takes effect at once)."""
    at = time.time() if now is None else now
    window = region.settings.ttl_change_window_s
    spec = await region.control.update_spec(
        table,
        lambda s: changed_spec(s, enabled=enabled, attribute=attribute, now=at, window_s=window),
    )
    log.info("TTL on %s %s", spec.name, f"enabled on {attribute!r}" if enabled else "disabled")
    return spec


async def ttl_attribute(region: Region, table: str) -> str | None:
    """DescribeTimeToLive: the TTL attribute, or None when TTL is disabled."""
    return (await region.control.table_spec(table)).ttl_attribute


# ------------------------------------------------------------------ expiry


def _epoch_seconds(value: Any) -> Decimal | None:
    """The number of a top-level ``{"N": ...}`` value; None for any other type."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    text = value.get("N")
    if not isinstance(text, str):
        return None
    try:
        return number_key(text)
    except (InvalidOperation, ValueError):
        return None


def is_expired(item: Item, attribute: str, now: float) -> bool:
    """Whether DynamoDB would consider ``item`` expired at ``now`` (epoch seconds)."""
    ttl = _epoch_seconds(item.get(attribute))
    if ttl is None:
        return False
    current = Decimal(now)
    return current - FIVE_YEARS_S <= ttl < current


# ------------------------------------------------------------------ the sweeper


async def _sweep_table(region: Region, spec: TableSpec, now: float) -> int:
    deleted = 0
    start: Item | None = None
    name = spec.name
    while True:
        try:
            # the setting may change (or the table go) while a big table is swept
            current = await region.control.table_spec(name)
            attribute = current.ttl_attribute
            if attribute is None or current.table_id != spec.table_id:
                return deleted

            def expired(item: Item, a: str = attribute) -> bool:
                return is_expired(item, a, now)

            page = await region.data.scan(name, limit=_PAGE, exclusive_start_key=start, keep=expired)
        except ResourceNotFound:
            return deleted

        def still_expired(stored: Item | None) -> bool:
            # re-tested inside the delete's transaction: an item rewritten since the
            # scan (say, with a later TTL) must survive
            return stored is not None and expired(stored)

        for item in page.items:
            try:
                outcome = await region.data.delete_item(
                    name,
                    {n: item[n] for n in current.key_schema.names},
                    condition=still_expired,
                    service=True,
                )
            except ConditionalCheckFailed:
                continue
            except ResourceNotFound:
                return deleted
            if outcome.changed:
                deleted += 1
        if page.last_evaluated_key is None:
            return deleted
        start = page.last_evaluated_key


async def sweep_once(region: Region, now: float | None = None) -> int:
    """Delete every expired item of every table with TTL enabled; returns how many."""
    at = time.time() if now is None else now
    deleted = 0
    for spec in await region.control.tables():
        if spec.ttl_attribute is None:
            continue
        n = await _sweep_table(region, spec, at)
        if n:
            log.info("TTL: %d expired item(s) deleted from %s", n, spec.name)
        deleted += n
    return deleted


async def run_sweeper(region: Region, interval: float) -> None:
    """Sweep every ``interval`` seconds until cancelled.

    A failed sweep (store down, a bug) is logged once, not once per round, and the
    loop carries on: expiry is best effort and must never take the region down."""
    failing = False
    while True:
        try:
            await sweep_once(region)
            if failing:
                log.info("TTL sweeper recovered")
                failing = False
        except asyncio.CancelledError:
            raise
        except Exception:
            if not failing:
                log.exception("TTL sweep failed; retrying every %.1fs", interval)
                failing = True
        await asyncio.sleep(interval)
