"""``globaltables replicas add``'s progress bar: percent done, never a rate in "%/s"."""

from __future__ import annotations

import io

from globaltables.cli_replicas import backfill_bar


def test_the_backfill_bar_shows_percent_and_time_not_a_rate() -> None:
    out = io.StringIO()
    with backfill_bar("Orders", "eu-west-1", file=out) as bar:
        bar.update(40)
        bar.refresh()
        bar.update(60)
    lines = [line.strip() for line in out.getvalue().replace("\r", "\n").splitlines() if line]
    assert lines, "the bar printed nothing"
    assert all(line.startswith("backfill Orders -> eu-west-1:") for line in lines), lines
    assert "/s" not in out.getvalue()
    assert "40%" in out.getvalue() and "100%" in lines[-1] and "elapsed" in lines[-1]
