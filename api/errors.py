"""The one table from domain exception to wire error (``__type``, status, message key).

``regions/errors.py`` words the errors; this module only decides how they look
on the wire.  Anything that is not a :class:`DynamoError` is a bug and becomes a
500 ``InternalServerError`` (which boto3 retries, so deterministic failures must
never end up here).
"""

from __future__ import annotations

from typing import Any

from regions.errors import DynamoError

__all__ = ["error_body", "error_status", "rest_status"]

_DYNAMODB_NS = "com.amazonaws.dynamodb.v20120810#"
_CORAL_SERVICE_NS = "com.amazon.coral.service#"
_CORAL_VALIDATE_NS = "com.amazon.coral.validate#"
# ThrottlingException's message shape is the model's AvailabilityErrorMessage: Coral's
# availability namespace (botocore keys on the name after '#' either way)
_CORAL_AVAILABILITY_NS = "com.amazon.coral.availability#"

#: code -> (namespace, HTTP status, message key); codes absent here use the DynamoDB
#: namespace, 400 and "message"
_WIRE: dict[str, tuple[str, int, str]] = {
    "ValidationException": (_CORAL_VALIDATE_NS, 400, "message"),
    "SerializationException": (_CORAL_SERVICE_NS, 400, "Message"),
    "UnknownOperationException": (_CORAL_SERVICE_NS, 400, "message"),
    "MissingAuthenticationTokenException": (_CORAL_SERVICE_NS, 400, "message"),
    "IncompleteSignatureException": (_CORAL_SERVICE_NS, 400, "message"),
    "InvalidSignatureException": (_CORAL_SERVICE_NS, 400, "message"),
    "UnrecognizedClientException": (_CORAL_SERVICE_NS, 400, "message"),
    "AccessDeniedException": (_CORAL_SERVICE_NS, 400, "Message"),
    "RequestEntityTooLarge": (_CORAL_SERVICE_NS, 413, "message"),
    "ThrottlingException": (_CORAL_AVAILABILITY_NS, 400, "message"),
    "TransactionCanceledException": (_DYNAMODB_NS, 400, "Message"),
    "IdempotentParameterMismatchException": (_DYNAMODB_NS, 400, "Message"),
    "TransactionInProgressException": (_DYNAMODB_NS, 400, "Message"),
    "ReplicatedWriteConflictException": (_DYNAMODB_NS, 409, "message"),
    "InternalServerError": (_DYNAMODB_NS, 500, "message"),
}

#: statuses for the plain REST API, where HTTP semantics are expected
_REST_STATUS: dict[str, int] = {
    "ResourceNotFoundException": 404,
    "ConditionalCheckFailedException": 409,
    "ResourceInUseException": 409,
    "AccessDeniedException": 403,
    "ProvisionedThroughputExceededException": 429,
    "ThrottlingException": 429,
    # authentication (api/auth) and the admin API's identities (regions/identities.py)
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
    "NoSuchEntityException": 404,
    "EntityAlreadyExistsException": 409,
    "RequestEntityTooLarge": 413,
    "InternalServerError": 500,
}


def _wire(code: str) -> tuple[str, int, str]:
    return _WIRE.get(code, (_DYNAMODB_NS, 400, "message"))


def error_status(exc: DynamoError) -> int:
    return _wire(exc.code)[1]


def rest_status(exc: DynamoError) -> int:
    return _REST_STATUS.get(exc.code, 400)


def error_body(exc: DynamoError) -> dict[str, Any]:
    """``__type``, the message (left out when empty, as DynamoDB leaves it out of the
    SerializationException for a body that is not JSON) and the modelled extras."""
    ns, _, message_key = _wire(exc.code)
    body: dict[str, Any] = {"__type": ns + exc.code}
    if exc.message:
        body[message_key] = exc.message
    body.update(exc.extra())
    return body
