"""Where a region keeps backups, PITR snapshots and exports: an S3-compatible service
(docs/regions.md, docs/environment.md).

Sources, the first that gives a value wins: ``globaltables region`` flags
(``--s3-endpoint``, ``--s3-region``, ``--s3-bucket``; never credentials), the config
file's ``[s3]`` table, then the environment variables botocore itself reads
(``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``,
``AWS_DEFAULT_REGION``).

S3 counts as configured when an endpoint (flag, file, or ``AWS_ENDPOINT_URL_S3``) or a
bucket (flag or file) is given; otherwise objects stay next to the region's store
(regions/protection/object_store_factory.py).  ``AWS_ENDPOINT_URL`` alone does not
switch S3 on: it is often set for the DynamoDB endpoint of AWS tools.

Secrets stay out of ``repr`` and :meth:`S3Settings.describe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from regions.protection.objects import BadObjectKey, check_bucket

__all__ = ["S3_CONFIG_KEYS", "S3Settings", "resolve_s3_settings"]

#: what the config file's ``[s3]`` table may hold
S3_CONFIG_KEYS = (
    "endpoint_url",
    "region",
    "bucket",
    "access_key_id",
    "secret_access_key",
    "session_token",
)

#: the S3 region when no source gives one (botocore needs one to sign)
DEFAULT_S3_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Settings:
    #: None: AWS S3 (the region's standard endpoint)
    endpoint_url: str | None = None
    region: str = DEFAULT_S3_REGION
    #: None with no secret: botocore's own credential chain (profiles, instance roles)
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    #: the bucket of the region's own backups and snapshots (created if missing);
    #: None: ``globaltables-<region name>`` (:meth:`bucket_for`)
    bucket: str | None = None

    def __post_init__(self) -> None:
        if self.endpoint_url is not None and not self.endpoint_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError(
                f"the S3 endpoint must be an http:// or https:// URL, not {self.endpoint_url!r}"
            )
        if not self.region or not self.region.strip():
            raise ValueError("the S3 region cannot be empty")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("S3 credentials need both an access key id and a secret access key")
        if self.session_token is not None and self.access_key_id is None:
            raise ValueError("an S3 session token needs an access key id and secret access key")
        if self.bucket is not None:
            try:
                check_bucket(self.bucket)
            except BadObjectKey as exc:
                raise ValueError(f"--s3-bucket: {exc}") from None

    def bucket_for(self, region_name: str) -> str:
        """The region's own bucket."""
        return self.bucket if self.bucket is not None else f"globaltables-{region_name}"

    def describe(self) -> str:
        """For logs and /healthz: where, never who."""
        return f"s3 {self.endpoint_url or 'aws'} ({self.region})"


def _pick(*values: Any) -> str | None:
    for v in values:
        if v is not None and v != "":
            return str(v)
    return None


def resolve_s3_settings(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    bucket: str | None = None,
    config: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> S3Settings | None:
    """The region's S3 settings from its flags (the keyword arguments), its config
    file's ``[s3]`` table and the environment (module docstring); None when S3 is not
    configured.  Raises ValueError for unusable values."""
    config = config or {}
    env = env if env is not None else {}
    unknown = sorted(set(config) - set(S3_CONFIG_KEYS))
    if unknown:
        raise ValueError(
            f"[s3]: unknown settings {', '.join(unknown)} (known: {', '.join(S3_CONFIG_KEYS)})"
        )
    explicit_endpoint = _pick(
        endpoint_url, config.get("endpoint_url"), env.get("AWS_ENDPOINT_URL_S3")
    )
    explicit_bucket = _pick(bucket, config.get("bucket"))
    if explicit_endpoint is None and explicit_bucket is None:
        return None
    key_id = _pick(config.get("access_key_id"), env.get("AWS_ACCESS_KEY_ID"))
    secret = _pick(config.get("secret_access_key"), env.get("AWS_SECRET_ACCESS_KEY"))
    token = _pick(config.get("session_token"), env.get("AWS_SESSION_TOKEN"))
    if config.get("access_key_id") or config.get("secret_access_key"):
        # a key pair comes from one place: never the file's id with the env's secret
        key_id, secret = config.get("access_key_id"), config.get("secret_access_key")
        token = config.get("session_token") or None
    return S3Settings(
        endpoint_url=(explicit_endpoint or _pick(env.get("AWS_ENDPOINT_URL")) or "").rstrip("/")
        or None,
        region=_pick(
            region, config.get("region"), env.get("AWS_REGION"), env.get("AWS_DEFAULT_REGION")
        )
        or DEFAULT_S3_REGION,
        access_key_id=key_id or None,
        secret_access_key=secret or None,
        session_token=token,
        bucket=explicit_bucket,
    )
