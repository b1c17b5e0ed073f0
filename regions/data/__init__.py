"""The data plane: item writes (typed operations, one commit), remote applies with
last-writer-wins, the outbox and the reads.  See :mod:`regions.data.plane`."""

from regions.data.ops import (
    Condition,
    ConditionCheck,
    Delete,
    Put,
    Update,
    WriteOp,
    WriteOutcome,
    WritesCancelled,
)
from regions.data.plane import Bound, DataPlane

__all__ = [
    "Bound",
    "Condition",
    "ConditionCheck",
    "DataPlane",
    "Delete",
    "Put",
    "Update",
    "WriteOp",
    "WriteOutcome",
    "WritesCancelled",
]
