"""DescribeEndpoints: where to send further requests.

DynamoDB answers with its regional host name; a self-hosted region must answer
with itself, so the address is the Host the client used to reach us (a client
that follows it, e.g. with endpoint discovery, stays on this region).
"""

from __future__ import annotations

from typing import Any

from api.dynamodb.transport import RequestContext
from regions.region import Region

__all__ = ["CACHE_PERIOD_MINUTES"]

#: what DynamoDB sends: a day
CACHE_PERIOD_MINUTES = 1440


async def describe_endpoints(
    region: Region, body: dict[str, Any], context: RequestContext
) -> dict[str, Any]:
    return {"Endpoints": [{"Address": context.host, "CachePeriodInMinutes": CACHE_PERIOD_MINUTES}]}


#: handlers that take the request context (see ``api.dynamodb.router``)
OPERATIONS = {"DescribeEndpoints": describe_endpoints}
