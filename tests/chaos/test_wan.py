"""One fault of the matrix under WAN latency, in every `make test` run.

`make chaos-wan` runs the whole matrix with issue #18's round trips on every link;
this is its short form: the deployment's links switch to that profile for one fault
(ap-southeast-2 cut off from Kafka under load, healed), which must pass the same
checks as without latency.  That the latency was really there is checked too: a
fresh write cannot reach the farthest region faster than half its round trip.
"""

from __future__ import annotations

import pytest

from globaltables.wan import REALISTIC
from tests.chaos.conftest import Params
from tests.chaos.deployment import WAN, Deployment
from tests.chaos.test_faults import cut_region_off_from_kafka

pytestmark = pytest.mark.integration

#: the smallest one-way delay to ap-southeast-2 (215 ms / 2, less 10 % jitter)
_FLOOR_S = 215 / 2 / 1000 * 0.9


def test_cut_one_region_off_under_wan_latency(deployment: Deployment, params: Params) -> None:
    if WAN:
        pytest.skip("the whole matrix runs under WAN latency already (GLOBALTABLES_CHAOS_WAN)")
    with deployment.wan(REALISTIC):
        result = cut_region_off_from_kafka(deployment, params, label=" (under WAN latency)")
    # probe_lag is the worst region's: a write reaches ap-southeast-2 (or leaves it)
    # no faster than one way of its shortest link
    assert result.lag_s is not None and result.lag_s >= _FLOOR_S, result
