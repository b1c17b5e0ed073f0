"""How the ``globaltables`` commands authenticate to a region: like any AWS tool.

Credentials come from botocore's usual chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and ``~/.aws/credentials``...) and
requests are signed with botocore's ``SigV4Auth`` for the service ``dynamodb`` and
the region the endpoint names in its ``/healthz``.  With no credentials at all the
requests go unsigned, which a region run with ``--allow-anonymous`` accepts.
"""

from __future__ import annotations

from typing import Any

import click
import httpx

from replicator.signing import SigV4

__all__ = ["BotocoreSigner", "credentials", "dynamodb_client", "http_auth", "region_of"]

#: the headers botocore would sign for a DynamoDB call, besides host and x-amz-date
_SIGNED = ("content-type", "x-amz-target")


def _signed(name: str) -> bool:
    """Whether a request header is signed: those of _SIGNED, and every x-amz-* header
    (a region refuses a request with an unsigned one, as AWS does)."""
    name = name.lower()
    return name in _SIGNED or name.startswith("x-amz-")


def credentials() -> Any | None:
    """botocore's frozen credentials from the usual chain, or None."""
    import botocore.session

    found = botocore.session.Session().get_credentials()
    return found.get_frozen_credentials() if found is not None else None


class BotocoreSigner:
    def __init__(self, creds: Any) -> None:
        self.creds = creds

    def __call__(self, request: httpx.Request, region: str) -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        aws = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=request.content,
            headers={k: v for k, v in request.headers.items() if _signed(k)},
        )
        SigV4Auth(self.creds, "dynamodb", region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws.headers:
                request.headers[name] = aws.headers[name]


def http_auth() -> SigV4:
    """An ``httpx`` auth signing with the usual AWS credentials (unsigned without)."""
    creds = credentials()
    return SigV4(BotocoreSigner(creds) if creds is not None else None)


def region_of(endpoint: str) -> str:
    """The region name, from the region's own health report."""
    try:
        return str(httpx.get(f"{endpoint.rstrip('/')}/healthz", timeout=5).json()["region"])
    except (httpx.HTTPError, ValueError, KeyError):
        raise click.ClickException(
            f"{endpoint} does not answer like a globaltables region"
        ) from None


def dynamodb_client(endpoint: str, region: str | None = None, **config: Any) -> Any:
    """A boto3 DynamoDB client for ``endpoint``, signed with the usual credentials,
    or unsigned if there are none."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    options: dict[str, Any] = {"retries": {"max_attempts": 3, "mode": "standard"}, **config}
    extra: dict[str, Any] = {}
    if credentials() is None:
        options["signature_version"] = UNSIGNED
        # boto3 still wants a key pair to build a client; UNSIGNED never uses it
        extra = {"aws_access_key_id": "unsigned", "aws_secret_access_key": "unsigned"}
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region or region_of(endpoint),
        config=Config(**options),
        **extra,
    )
