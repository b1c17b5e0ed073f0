"""Pure pieces of the multi-process region (globaltables/workers.py, api/forwarding.py and friends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.samples import Sample

from api.forwarding import served_by_worker
from api.metrics import _summed
from regions.process_signals import CATALOG, IDENTITIES, ProcessSignals
from regions.throttle import Throttle, _Limit


def test_signals_written_by_one_mapping_are_read_by_another(tmp_path: Path) -> None:
    primary = ProcessSignals(str(tmp_path / "signals"), create=True)
    worker = ProcessSignals(str(tmp_path / "signals"))
    assert worker.read(CATALOG) == worker.read(IDENTITIES) == 0
    primary.bump(CATALOG)
    primary.bump(CATALOG)
    primary.bump(IDENTITIES)
    assert (worker.read(CATALOG), worker.read(IDENTITIES)) == (2, 1)
    primary.close()
    worker.close()


def _scope(target: bytes | None, method: str = "POST", path: str = "/") -> dict[str, Any]:
    headers = [(b"host", b"h")]
    if target is not None:
        headers.append((b"x-amz-target", target))
    return {"method": method, "path": path, "headers": headers}


def test_only_item_operations_are_served_by_a_worker() -> None:
    assert served_by_worker(_scope(b"DynamoDB_20120810.PutItem"))
    assert served_by_worker(_scope(b"DynamoDB_20120810.TransactWriteItems"))
    assert not served_by_worker(_scope(b"DynamoDB_20120810.CreateTable"))
    assert not served_by_worker(_scope(b"DynamoDBStreams_20120810.GetRecords"))
    assert not served_by_worker(_scope(None))
    assert not served_by_worker(_scope(b"DynamoDB_20120810.PutItem", method="GET"))
    assert not served_by_worker(_scope(b"DynamoDB_20120810.PutItem", path="/v1/tables"))


def test_worker_samples_add_to_the_same_label_sets_and_add_new_ones() -> None:
    own = [
        Sample("r_total", {"op": "PutItem"}, 3.0),
        Sample("r_total", {"op": "GetItem"}, 1.0),
    ]
    more = [
        ("r", "r_total", {"op": "PutItem"}, 4.0),
        ("r", "r_total", {"op": "Query"}, 2.0),
    ]
    merged = {(s.name, s.labels["op"]): s.value for s in _summed(own, more)}
    assert merged == {
        ("r_total", "PutItem"): 7.0,
        ("r_total", "GetItem"): 1.0,
        ("r_total", "Query"): 2.0,
    }


def test_each_process_admits_its_share_of_a_tables_rate() -> None:
    limit = _Limit(("t", "", "write"), 100, True, None)
    whole = Throttle(burst_s=1, clock=lambda: 0.0)._bucket(limit, 0.0)
    half = Throttle(burst_s=1, clock=lambda: 0.0, share=0.5)._bucket(limit, 0.0)
    assert (whole.rate, whole.size) == (100, 100)
    assert (half.rate, half.size) == (50, 50)
