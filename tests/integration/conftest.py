from __future__ import annotations

# the three-region deployment (real processes, real Kafka) for the metrics and
# dashboard tests; tests/integration/replication has its own instance
from tests.integration.replication.helpers import regions

__all__ = ["regions"]
