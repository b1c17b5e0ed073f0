"""AWS Signature Version 4 for DynamoDB's JSON 1.0 protocol, the way botocore signs it.

botocore signs exactly ``content-type;host;x-amz-date;x-amz-target`` for a DynamoDB call
(no ``x-amz-content-sha256``), with the body's SHA-256 in the canonical request and the
service ``dynamodb`` in the scope.  ``tests/unit/test_bench_sigv4.py`` checks this module
against botocore's own signer byte for byte.

The load generator signs every request, so the per-request work is kept to two SHA-256
digests and one HMAC: the derived signing key depends only on the date and region and is
cached.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

# the key derivation and date format are the region's own (one implementation)
from regions.sigv4 import amz_date, signing_key

__all__ = [
    "BENCH_ACCESS_KEY",
    "BENCH_SECRET_KEY",
    "CONTENT_TYPE",
    "SIGNED_HEADERS",
    "Signer",
    "amz_date",
    "signing_key",
]

CONTENT_TYPE = "application/x-amz-json-1.0"
SIGNED_HEADERS = "content-type;host;x-amz-date;x-amz-target"
#: the key the benchmark signs with; regions it starts get it as their bootstrap admin key
BENCH_ACCESS_KEY = "AKIDGLOBALTABLESBENCH"
BENCH_SECRET_KEY = "globaltables-bench-secret"
_ALGORITHM = "AWS4-HMAC-SHA256"
_SERVICE = "dynamodb"


@dataclass
class Signer:
    """Signs DynamoDB requests for one endpoint (``host`` includes the port)."""

    host: str
    region: str
    access_key: str = BENCH_ACCESS_KEY
    secret_key: str = BENCH_SECRET_KEY
    _keys: dict[str, bytes] = field(default_factory=dict, repr=False)

    def _key(self, date: str) -> bytes:
        key = self._keys.get(date)
        if key is None:
            # one entry per UTC day: a run that crosses midnight needs two
            key = self._keys[date] = signing_key(self.secret_key, date, self.region)
        return key

    def authorization(self, target: str, body: bytes, x_amz_date: str) -> str:
        """The ``Authorization`` header value for a POST / with these headers and body."""
        date = x_amz_date[:8]
        scope = f"{date}/{self.region}/{_SERVICE}/aws4_request"
        canonical = (
            "POST\n/\n\n"
            f"content-type:{CONTENT_TYPE}\n"
            f"host:{self.host}\n"
            f"x-amz-date:{x_amz_date}\n"
            f"x-amz-target:{target}\n"
            f"\n{SIGNED_HEADERS}\n"
            f"{hashlib.sha256(body).hexdigest()}"
        )
        to_sign = (
            f"{_ALGORITHM}\n{x_amz_date}\n{scope}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.new(self._key(date), to_sign.encode(), hashlib.sha256).hexdigest()
        return (
            f"{_ALGORITHM} Credential={self.access_key}/{scope}, "
            f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
        )
