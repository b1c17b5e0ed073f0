"""Domain exceptions, worded as DynamoDB words them.

These carry no HTTP knowledge: ``api/errors.py`` is the single table that maps each
class to a wire ``__type`` and status.  Every exception raised on purpose by
``regions/`` or ``replicator/`` derives from :class:`DynamoError`, so the edge can
tell a deliberate 4xx from a bug (which becomes a 500).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessDenied",
    "BackupInUse",
    "BackupNotFound",
    "ConditionalCheckFailed",
    "ContinuousBackupsUnavailable",
    "DynamoError",
    "ExportConflict",
    "ExportNotFound",
    "ImportConflict",
    "ImportNotFound",
    "InternalError",
    "InvalidExportTime",
    "InvalidRestoreTime",
    "LimitExceeded",
    "PointInTimeRecoveryUnavailable",
    "ProvisionedThroughputExceeded",
    "ReseedUnavailable",
    "ResourceInUse",
    "ResourceNotFound",
    "SerializationError",
    "TableAlreadyExists",
    "TableInUse",
    "TableNotFound",
    "Throttling",
    "UnknownOperation",
    "ValidationError",
]


class DynamoError(Exception):
    """Base of every deliberate, client-visible failure."""

    #: the DynamoDB exception name; ``api/errors.py`` adds namespace and status
    code: str = "InternalServerError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def extra(self) -> dict[str, Any]:
        """Modelled members sent next to ``message`` (e.g. ``Item``)."""
        return {}


class ValidationError(DynamoError):
    code = "ValidationException"


class PeerRefused(DynamoError):
    """A peer region was reached and answered a control-plane call with an error
    (``code`` is the peer's DynamoDB error name); an unreachable peer is a plain
    ValidationError instead."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SerializationError(DynamoError):
    """The body is not JSON, or a JSON value has the wrong JSON type."""

    code = "SerializationException"


class UnknownOperation(DynamoError):
    code = "UnknownOperationException"


class ResourceNotFound(DynamoError):
    code = "ResourceNotFoundException"

    def __init__(self, message: str = "Requested resource not found") -> None:
        super().__init__(message)


class ResourceInUse(DynamoError):
    code = "ResourceInUseException"


class ReseedUnavailable(ResourceInUse):
    """A re-seed of a stale replica cannot proceed now (regions/reseed.py): the peer
    asked for a copy is itself re-seeding or has not caught up with Kafka, or no
    peer could serve it.  Retried later; nothing was purged."""


class LimitExceeded(DynamoError):
    code = "LimitExceededException"


class ConditionalCheckFailed(DynamoError):
    code = "ConditionalCheckFailedException"

    def __init__(
        self,
        message: str = "The conditional request failed",
        item: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.item = item

    def extra(self) -> dict[str, Any]:
        return {"Item": self.item} if self.item is not None else {}


class InternalError(DynamoError):
    code = "InternalServerError"


class AccessDenied(DynamoError):
    """No identity-based policy allows the request, or one denies it (regions/policy.py)."""

    code = "AccessDeniedException"


class ProvisionedThroughputExceeded(DynamoError):
    """A PROVISIONED table or index has no capacity left (regions/throttle.py).
    ``reasons`` are ThrottlingReason entries ``{"reason", "resource"}``."""

    code = "ProvisionedThroughputExceededException"

    def __init__(self, message: str, reasons: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []

    def extra(self) -> dict[str, Any]:
        return {"ThrottlingReasons": self.reasons} if self.reasons else {}


class Throttling(DynamoError):
    """An on-demand table or index reached its OnDemandThroughput maximum.  The
    model spells this exception's member ``throttlingReasons`` (lower-case t)."""

    code = "ThrottlingException"

    def __init__(
        self,
        message: str = "Rate of requests exceeds the allowed throughput.",
        reasons: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.reasons = reasons or []

    def extra(self) -> dict[str, Any]:
        return {"throttlingReasons": self.reasons} if self.reasons else {}


# -- backups and point-in-time recovery (regions/protection/)


class BackupNotFound(DynamoError):
    code = "BackupNotFoundException"


class BackupInUse(DynamoError):
    """A backup is being created, deleted or restored from (another control-plane
    operation on it is in progress)."""

    code = "BackupInUseException"


class TableNotFound(DynamoError):
    """The backup and point-in-time operations' missing table (not the item
    operations' ResourceNotFoundException)."""

    code = "TableNotFoundException"

    def __init__(self, name: str) -> None:
        super().__init__(f"Table not found: {name}")


class TableAlreadyExists(DynamoError):
    code = "TableAlreadyExistsException"

    def __init__(self, name: str) -> None:
        super().__init__(f"Table already exists: {name}")


class TableInUse(DynamoError):
    code = "TableInUseException"


class InvalidRestoreTime(DynamoError):
    code = "InvalidRestoreTimeException"


class PointInTimeRecoveryUnavailable(DynamoError):
    code = "PointInTimeRecoveryUnavailableException"


class ContinuousBackupsUnavailable(DynamoError):
    code = "ContinuousBackupsUnavailableException"


# -- exports and imports (regions/protection/exports.py, imports.py)


class ExportNotFound(DynamoError):
    code = "ExportNotFoundException"


class ExportConflict(DynamoError):
    """A ClientToken reused with different parameters."""

    code = "ExportConflictException"


class InvalidExportTime(DynamoError):
    code = "InvalidExportTimeException"


class ImportNotFound(DynamoError):
    code = "ImportNotFoundException"


class ImportConflict(DynamoError):
    """A ClientToken reused with different parameters."""

    code = "ImportConflictException"
