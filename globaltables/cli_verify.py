"""``globaltables verify``: prove that the replicas of global tables converged
(invariant 8), list the keys that differ, and repair them with last-writer-wins.

The logic is in ``replicator/verifier.py``; this module picks the tables, draws
the progress bar and prints.  docs/verify.md is the user's guide.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from regions.settings import parse_peer
from regions.verify_tree import BUCKETS
from regions.versions import physical_ms
from replicator.verifier import (
    HttpReplica,
    KeyDiff,
    RepairOutcome,
    RowState,
    TableInfo,
    TableReport,
    VerifyError,
    repair_table,
    verify_table,
)

__all__ = ["verify"]

#: exit statuses
IDENTICAL, DIFFERENT, FAILED = 0, 1, 2


@dataclass
class _Result:
    table: str
    report: TableReport | None = None
    repair: RepairOutcome | None = None
    after: TableReport | None = None
    #: regions that should hold a replica (per the others' replica sets) but do not
    missing: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def final(self) -> TableReport | None:
        return self.after or self.report

    @property
    def status(self) -> int:
        if self.error is not None:
            return FAILED
        if self.missing or (self.final is not None and not self.final.identical):
            return DIFFERENT
        return IDENTICAL


class _Progress:
    """One tqdm bar per stage on stderr; silent when stderr is not a terminal."""

    def __init__(self, table: str, enabled: bool) -> None:
        self.table = table
        self.enabled = enabled
        self.stage: str | None = None
        self.bar: Any = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            unit = {"tree": "level", "rows": "row", "repair": "row"}.get(stage, "it")
            self.bar = tqdm(
                total=total, desc=f"{self.table}: {stage}", unit=unit, leave=False, disable=None
            )
        self.bar.total = max(total, done)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.stage = None


def _parse_endpoint(text: str) -> tuple[str | None, str]:
    if "=" in text:
        try:
            return parse_peer(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--endpoint") from None
    if not text.startswith(("http://", "https://")):
        raise click.BadParameter(f"expected NAME=URL or URL, got {text!r}", param_hint="--endpoint")
    return None, text.rstrip("/")


async def _check_table(
    table: str,
    holders: Sequence[HttpReplica],
    missing: list[str],
    *,
    repair: bool,
    rehash: bool,
    progress: bool,
) -> _Result:
    result = _Result(table, missing=missing)
    bar = _Progress(table, progress)
    try:
        if rehash:
            await asyncio.gather(*(h.rehash(table) for h in holders))
        result.report = await verify_table(holders, table, bar)
        if repair and result.report.diffs:
            bar.close()
            result.repair = await repair_table(holders, result.report, bar)
            bar.close()
            result.after = await verify_table(holders, table, bar)
    except VerifyError as exc:
        result.error = str(exc)
    finally:
        bar.close()
    return result


async def _run(
    endpoints: list[tuple[str | None, str]],
    table: str | None,
    *,
    repair: bool,
    rehash: bool,
    timeout: float,
    progress: bool,
) -> list[_Result]:
    import httpx

    from globaltables.aws_auth import http_auth

    # signed with the usual AWS credentials (the verifier reads the internal API)
    async with httpx.AsyncClient(timeout=timeout, auth=http_auth()) as http:
        sources = [HttpReplica(name, url, http) for name, url in endpoints]
        catalogs_list = await asyncio.gather(*(s.tables() for s in sources))
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise VerifyError(f"the same region is given twice: {', '.join(names)}")
        catalogs = dict(zip(names, catalogs_list, strict=True))
        wanted = [table] if table else sorted({t for c in catalogs.values() for t in c})
        results: list[_Result] = []
        for t in wanted:
            infos = {n: c[t] for n, c in catalogs.items() if t in c}
            groups: dict[str, list[HttpReplica]] = {}
            for s in sources:
                if s.name in infos:
                    groups.setdefault(infos[s.name].table_id, []).append(s)
            if table is not None and len(groups) > 1:
                detail = ", ".join(f"{n}: {i.table_id}" for n, i in sorted(infos.items()))
                results.append(_Result(t, error=f"not one global table ({detail})"))
                continue
            for group in groups.values():
                expected = _expected(infos, group, names)
                missing = sorted(expected - {s.name for s in group})
                if len(group) < 2:
                    if table is not None:
                        results.append(
                            _Result(
                                t,
                                missing=missing,
                                error=None
                                if missing
                                else f"only {group[0].name} holds {t} among the endpoints",
                            )
                        )
                    # else: a table of one region only (or whose peers were not given)
                    continue
                results.append(
                    await _check_table(
                        t, group, missing, repair=repair, rehash=rehash, progress=progress
                    )
                )
            if table is not None and not groups:
                results.append(_Result(t, error=f"no endpoint holds a table {t}"))
        return results


def _expected(
    infos: dict[str, TableInfo], group: Sequence[HttpReplica], names: list[str]
) -> set[str]:
    """Endpoint regions that the group's replica sets say hold the table."""
    out: set[str] = set()
    for s in group:
        out.update(infos[s.name].replicas)
    return out & set(names)


# ---------------------------------------------------------------------------- output


def _key_text(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={next(iter(v.values()))}" for k, v in key.items())


def _when(hlc: int) -> str:
    ts = datetime.datetime.fromtimestamp(physical_ms(hlc) / 1000, datetime.UTC)
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _fingerprint(data: bytes) -> str:
    """A short digest of the canonical bytes, so equal and different items show."""
    return hashlib.blake2b(data, digest_size=4).hexdigest()


def _state_text(state: RowState | None) -> str:
    if state is None:
        return "absent"
    what = "tombstone" if state.data is None else f"item #{_fingerprint(state.data)}"
    return (
        f"{what:<14}  version {state.version.hlc}@{state.version.origin}"
        f"  ({_when(state.version.hlc)})"
    )


def _counts(report: TableReport) -> str:
    return " · ".join(f"{n} {report.counts[n]:,} items" for n in report.regions)


def _print_diffs(report: TableReport, show: int) -> None:
    width = max(len(n) for n in report.regions)
    for d in report.diffs[:show]:
        click.echo(f"  {_key_text(d.key)}")
        for region in report.regions:
            click.echo(f"    {region:<{width}}  {_state_text(d.states[region])}")
        win = d.winner
        if win is None:
            click.echo("    LWW cannot choose: different rows under one version (rewrite the item)")
        else:
            kind = "tombstone" if win.is_tombstone else "item"
            click.echo(
                f"    winner: {kind} {win.version.hlc}@{win.version.origin}"
                f" -> needed by {', '.join(d.behind())}"
            )
    if len(report.diffs) > show:
        click.echo(f"  ... and {len(report.diffs) - show:,} more (--show to list more)")


def _print(result: _Result, show: int) -> None:
    t = result.table
    if result.error is not None:
        click.echo(f"{t}: could not verify: {result.error}")
        return
    for region in result.missing:
        click.echo(
            f"{t}: MISSING in {region}, which the replica set lists "
            f"(add it with: globaltables replicas add {t} {region})"
        )
    report = result.report
    if report is None:
        return
    if report.identical:
        click.echo(f"{t}: identical in {len(report.regions)} regions ({_counts(report)})")
        return
    click.echo(
        f"{t}: DIFFERENT: {len(report.diffs):,} key(s) in {len(report.buckets):,} of "
        f"{BUCKETS} buckets ({_counts(report)})"
    )
    _print_diffs(report, show)
    if report.settled:
        click.echo(f"  ({len(report.settled)} more bucket(s) changed while being compared)")
    if result.repair is not None:
        rep = result.repair
        for region in sorted(rep.pushed):
            click.echo(
                f"  repair: {rep.pushed[region]:,} row(s) pushed to {region}, "
                f"{rep.applied.get(region, 0):,} applied"
            )
        if rep.undecidable:
            click.echo(f"  repair: {len(rep.undecidable)} key(s) left alone (LWW cannot choose)")
    if result.after is not None:
        after = result.after
        if after.identical:
            click.echo(f"{t}: identical after repair ({_counts(after)})")
        else:
            click.echo(f"{t}: still {len(after.diffs):,} differing key(s) after repair")
            _print_diffs(after, show)


def _state_json(state: RowState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "hlc": state.version.hlc,
        "origin": state.version.origin,
        "tombstone": state.is_tombstone,
        "item": json.loads(state.data) if state.data is not None else None,
    }


def _diff_json(d: KeyDiff) -> dict[str, Any]:
    return {
        "key": d.key,
        "replicas": {r: _state_json(s) for r, s in d.states.items()},
        "winner": _state_json(d.winner),
        "behind": d.behind(),
    }


def _report_json(report: TableReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "identical": report.identical,
        "table_id": report.table_id,
        "items": report.counts,
        "buckets": report.buckets,
        "diffs": [_diff_json(d) for d in report.diffs],
    }


def _result_json(result: _Result) -> dict[str, Any]:
    rep = result.repair
    return {
        "table": result.table,
        "status": ["identical", "different", "failed"][result.status],
        "error": result.error,
        "missing": result.missing,
        "report": _report_json(result.report),
        "repair": None
        if rep is None
        else {
            "pushed": rep.pushed,
            "applied": rep.applied,
            "not_applied": rep.not_applied,
            "undecidable": len(rep.undecidable),
        },
        "after_repair": _report_json(result.after),
    }


@click.command()
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    required=True,
    metavar="NAME=URL",
    help="A region to compare, as NAME=URL (or just URL); repeat for every region, "
    "e.g. --endpoint us-east-1=http://127.0.0.1:8000 --endpoint eu-west-1=http://127.0.0.1:8001.",
)
@click.option(
    "--table",
    default=None,
    help="Only this table (default: every table that two or more endpoints replicate).",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Give every replica each differing key's last-writer-wins winner, then verify again.",
)
@click.option(
    "--rehash",
    is_flag=True,
    help="First have every region recompute its hash tree from its rows (reads every "
    "item once; finds rows changed behind the store's back).",
)
@click.option(
    "--show",
    default=100,
    show_default=True,
    type=click.IntRange(0),
    help="List at most this many differing keys per table.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead.")
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    type=float,
    help="Seconds to wait for one answer of a region.",
)
def verify(
    endpoints: tuple[str, ...],
    table: str | None,
    repair: bool,
    rehash: bool,
    show: int,
    as_json: bool,
    timeout: float,
) -> None:
    """Compare the replicas of global tables; list (and --repair) the keys that differ.

    Regions exchange hashes of a tree over their items, walk down only where the
    hashes differ, and then compare the rows of the differing buckets key by key,
    with versions.  Identical replicas cost a few hundred bytes per region.

    Requests are signed with the usual AWS credentials (environment variables,
    AWS_PROFILE, ~/.aws/credentials), which must be the regions' admin key; with
    none they go unsigned, which regions run with --allow-anonymous accept.

    Exit status: 0 identical (or repaired and verified identical again),
    1 differences remain, 2 the comparison could not be made.
    """
    parsed = [_parse_endpoint(e) for e in endpoints]
    if len(parsed) < 2:
        raise click.UsageError("give at least two --endpoint regions to compare")
    try:
        results = asyncio.run(
            _run(
                parsed,
                table,
                repair=repair,
                rehash=rehash,
                timeout=timeout,
                progress=not as_json,
            )
        )
    except VerifyError as exc:
        if as_json:
            click.echo(json.dumps({"error": str(exc), "tables": []}, indent=2))
        else:
            click.echo(f"could not verify: {exc}", err=True)
        raise SystemExit(FAILED) from None
    status = max((r.status for r in results), default=IDENTICAL)
    if as_json:
        click.echo(json.dumps({"tables": [_result_json(r) for r in results]}, indent=2))
        raise SystemExit(status)
    if not results:
        click.echo("no table is replicated between these regions")
    for r in results:
        _print(r, show)
    if len(results) > 1:
        n_bad = sum(1 for r in results if r.status == DIFFERENT)
        n_err = sum(1 for r in results if r.status == FAILED)
        click.echo(
            f"{len(results)} tables: {len(results) - n_bad - n_err} identical, "
            f"{n_bad} different, {n_err} not verified"
        )
    raise SystemExit(status)
