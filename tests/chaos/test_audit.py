"""The chaos suite's audit can fail: it counts exactly the losses it exists to find.

Runs on hand-made store files (the real schema, rows written directly), no
processes: one region's copy of a key older than an acknowledged write, an
acknowledged write no change log holds, and (not a loss) a write superseded by a
newer version everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, insert

from regions.store import schema as s
from tests.chaos.load import Ack, audit
from tests.fixtures.regions import RegionProcess

TABLE = "audited"


def _region(
    tmp_path: Path,
    name: str,
    rows: dict[str, tuple[int, str, str]],
    earlier: dict[str, tuple[int, str, str]] | None = None,
) -> RegionProcess:
    """A store file holding ``rows`` (key -> (hlc, origin, value)), each with the
    change record its origin region would have logged, and change records of
    ``earlier`` writes that rows have since replaced."""
    path = tmp_path / f"{name}.db"
    engine = create_engine(f"sqlite:///{path}")
    s.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(s.tables).values(tid=1, name=TABLE, table_id="t1", spec="{}"))
        for key, (hlc, origin, value) in (earlier or {}).items():
            item: dict[str, Any] = {"id": {"S": key}, "v": {"S": value}}
            _log(conn, item, hlc, origin)
        for key, (hlc, origin, value) in rows.items():
            item = {"id": {"S": key}, "v": {"S": value}}
            _log(conn, item, hlc, origin)
            conn.execute(
                insert(s.items).values(
                    tid=1,
                    part=0,
                    hk=key.encode(),
                    rk=b"",
                    hlc=hlc,
                    origin=origin,
                    data=orjson.dumps(item),
                    size=10,
                    tomb_ms=None,
                )
            )
    engine.dispose()
    return RegionProcess(name, 0, f"sqlite:///{path}")


def _log(conn: Any, item: dict[str, Any], hlc: int, origin: str) -> None:
    record = orjson.dumps({"new": item, "hlc": hlc, "origin": origin})
    conn.execute(
        insert(s.changes).values(
            tid=1,
            part=0,
            event="MODIFY",
            hlc=hlc,
            origin=origin,
            created_ms=0,
            pending=False,
            record=record,
        )
    )


def test_a_replica_behind_an_acknowledged_write_is_a_loss(tmp_path: Path) -> None:
    east = _region(tmp_path, "us-east-1", {"k": (200, "us-east-1", "new")})
    west = _region(tmp_path, "eu-west-1", {"k": (100, "us-east-1", "old")})
    result = audit({"us-east-1": east, "eu-west-1": west}, TABLE, [Ack("k", "new", "us-east-1")])
    assert len(result.lost) == 1 and "eu-west-1 holds older" in result.lost[0]
    assert result.diverging_keys == ["k"]
    assert not result.ok


def test_an_acknowledged_write_in_no_change_log_is_a_loss(tmp_path: Path) -> None:
    east = _region(tmp_path, "us-east-1", {"k": (100, "us-east-1", "old")})
    result = audit({"us-east-1": east}, TABLE, [Ack("k", "never-committed", "us-east-1")])
    assert len(result.lost) == 1 and "in no change log" in result.lost[0]


def test_a_superseded_write_is_not_a_loss(tmp_path: Path) -> None:
    # us-east-1 acknowledged "old" at hlc 100 (its log has it), which then lost LWW
    # to eu-west-1's "winner" at 300, which every replica holds
    winner = {"k": (300, "eu-west-1", "winner")}
    east = _region(tmp_path, "us-east-1", winner, earlier={"k": (100, "us-east-1", "old")})
    west = _region(tmp_path, "eu-west-1", winner)
    acks = [Ack("k", "old", "us-east-1"), Ack("k", "winner", "eu-west-1")]
    result = audit({"us-east-1": east, "eu-west-1": west}, TABLE, acks)
    assert result.ok, result
