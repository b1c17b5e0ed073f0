"""Authentication failures, worded as DynamoDB words them (docs/security.md).

``api/errors.py`` gives them the ``com.amazon.coral.service#`` namespace and 400 on
the DynamoDB protocol; the REST API answers them with 403.
"""

from __future__ import annotations

from regions.errors import DynamoError

__all__ = [
    "IncompleteSignature",
    "InvalidSignature",
    "MissingAuthenticationToken",
    "UnrecognizedClient",
]


class MissingAuthenticationToken(DynamoError):
    code = "MissingAuthenticationTokenException"

    def __init__(self) -> None:
        super().__init__("Request is missing Authentication Token")


class IncompleteSignature(DynamoError):
    code = "IncompleteSignatureException"


class InvalidSignature(DynamoError):
    code = "InvalidSignatureException"


class UnrecognizedClient(DynamoError):
    code = "UnrecognizedClientException"

    def __init__(self) -> None:
        super().__init__("The security token included in the request is invalid.")
