"""The load generator's SigV4 signer produces exactly what botocore's signer produces."""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.sigv4 import CONTENT_TYPE, SIGNED_HEADERS, Signer, amz_date, signing_key


def _botocore_authorization(
    url: str, target: str, body: bytes, region: str, when: datetime.datetime
) -> tuple[str, str]:
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": target},
    )
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "dynamodb", region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        auth.add_auth(request)
    return str(request.headers["Authorization"]), str(request.headers["X-Amz-Date"])


@pytest.mark.parametrize(
    ("url", "host", "region", "target", "body"),
    [
        ("http://127.0.0.1:8000/", "127.0.0.1:8000", "us-east-1", "DynamoDB_20120810.PutItem",
         b'{"TableName":"bench","Item":{"pk":{"S":"p1"},"sk":{"S":"000001"}}}'),
        ("http://localhost:4567/", "localhost:4567", "eu-west-1", "DynamoDB_20120810.GetItem",
         b'{"TableName":"t","Key":{"pk":{"S":"caf\xc3\xa9"}}}'),
        ("http://127.0.0.1:5000/", "127.0.0.1:5000", "ap-southeast-2",
         "DynamoDB_20120810.ListTables", b"{}"),
    ],
)
def test_matches_botocore(url: str, host: str, region: str, target: str, body: bytes) -> None:
    when = datetime.datetime(2024, 3, 9, 23, 59, 58, tzinfo=datetime.UTC)
    expected, date = _botocore_authorization(url, target, body, region, when)
    assert date == "20240309T235958Z"
    signer = Signer(host, region, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    assert signer.authorization(target, body, date) == expected
    assert f"SignedHeaders={SIGNED_HEADERS}," in expected


def test_signing_key_is_cached_per_day() -> None:
    signer = Signer("127.0.0.1:8000", "us-east-1", "AK", "SK")
    a = signer.authorization("DynamoDB_20120810.PutItem", b"{}", "20240309T235959Z")
    b = signer.authorization("DynamoDB_20120810.PutItem", b"{}", "20240310T000000Z")
    assert a != b
    assert set(signer._keys) == {"20240309", "20240310"}
    assert signer._keys["20240310"] == signing_key("SK", "20240310", "us-east-1")


def test_amz_date_format() -> None:
    assert amz_date(0) == "19700101T000000Z"
    assert amz_date(1_700_000_000.9) == "20231114T221320Z"
