"""``globaltables workload``: a steady demo workload against a running deployment
(the compose file's ``workload`` service; ``make demo`` runs the same code)."""

from __future__ import annotations

import signal

import click

__all__ = ["workload"]


@click.command()
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    required=True,
    envvar="GLOBALTABLES_ENDPOINTS",
    help="A region to write in, as NAME=URL (repeatable); the first one creates the table. "
    "In the environment: space-separated NAME=URL pairs.",
)
@click.option(
    "--table",
    default="Orders",
    show_default=True,
    help="Global table to create (if missing) and write.",
)
@click.option(
    "--rate", default=5.0, show_default=True, type=float, help="Writes per second per region."
)
@click.option(
    "--duration",
    default=0.0,
    show_default=True,
    type=float,
    help="Stop after this many seconds (0 = until Ctrl-C or SIGTERM).",
)
@click.option(
    "--conflict-every",
    default=2.0,
    show_default=True,
    type=float,
    help="Seconds between two writes of the same key in two regions at once (0 = never).",
)
@click.option(
    "--wait",
    default=120.0,
    show_default=True,
    type=float,
    help="Seconds to wait for every region to answer before giving up.",
)
def workload(
    endpoints: tuple[str, ...],
    table: str,
    rate: float,
    duration: float,
    conflict_every: float,
    wait: float,
) -> None:
    """Write in every region (and now and then the same key in two regions at once)."""
    from globaltables.workload import Workload
    from regions.settings import parse_peer

    try:
        urls = dict(parse_peer(e) for e in endpoints)
        load = Workload(urls, table=table, rate=rate, conflict_every_s=conflict_every)
    except ValueError as exc:
        raise click.BadParameter(
            str(exc).replace("peer", "endpoint"), param_hint="--endpoint"
        ) from None
    # `docker compose stop` sends SIGTERM: finish the writes in flight, print the totals
    signal.signal(signal.SIGTERM, lambda *_: load.stop(timeout=0))
    try:
        load.wait_ready(wait)
        created = load.ensure_table()
    except Exception as exc:
        raise click.ClickException(f"cannot set up table {table}: {exc}") from None
    click.echo(
        f"{'created' if created else 'using'} table {table} across {', '.join(urls)}; "
        f"writing {rate:g}/s per region"
        + (f" for {duration:g} s" if duration else " until stopped")
    )
    try:
        stats = load.run(duration)
    except KeyboardInterrupt:
        load.stop()
        stats = load.stats
    click.echo(
        f"wrote {stats.written} items ({stats.errors} failed), "
        f"{stats.conflict_pairs} same-key writes in two regions"
    )
