from __future__ import annotations

from tests.integration.replication.helpers import regions

__all__ = ["regions"]
