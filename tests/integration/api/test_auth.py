"""SigV4 authentication of a real region, through boto3, raw HTTP and the CLI
(docs/security.md, "The signature check")."""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from click.testing import CliRunner

from globaltables.cli import main
from regions import system_tables
from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, RegionProcess, free_port
from tests.integration.api.support import REGION, SERVICE_NS, expect_error, http, unique

pytestmark = pytest.mark.integration

_BASIC = r"\d{8}T\d{6}Z"


def _client(url: str, key: str = ADMIN_KEY_ID, secret: str = ADMIN_SECRET, **kw: Any) -> Any:
    service = kw.pop("service", "dynamodb")
    region = kw.pop("region", REGION)
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **kw),
    )


def _unsigned(url: str, service: str = "dynamodb") -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1, "mode": "standard"}),
    )


def _cli(*args: str, key: str = ADMIN_KEY_ID, secret: str = ADMIN_SECRET) -> Any:
    env = {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    """A region run with --allow-anonymous."""
    d = tmp_path_factory.mktemp("anonymous")
    proc = RegionProcess(
        REGION,
        free_port(),
        f"sqlite:///{d}/anon.db",
        log_dir=d,
        extra_args=["--allow-anonymous"],
    ).start()
    yield proc
    proc.stop()


#: lets a user do anything with DynamoDB (regions/policy.py denies what no policy allows)
ALLOW_DYNAMODB = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
}


@pytest.fixture
def user_key(
    region_proc: RegionProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A fresh user allowed dynamodb:*, with one access key, made with the CLI (--json)."""
    name = unique("user")
    policy = tmp_path_factory.mktemp("policy") / "allow.json"
    policy.write_text(json.dumps(ALLOW_DYNAMODB))
    out = _cli("users", "create", name, "--policy", str(policy), "--endpoint", region_proc.url)
    assert out.exit_code == 0, out.output
    out = _cli("keys", "create", name, "--endpoint", region_proc.url, "--json")
    assert out.exit_code == 0, out.output
    key: dict[str, str] = json.loads(out.output)["AccessKey"]
    yield key
    _cli("users", "delete", name, "--endpoint", region_proc.url)


# ------------------------------------------------------------------ boto3, DynamoDB API


def test_admin_key_works(ddb: Any) -> None:
    assert "TableNames" in ddb.list_tables()


def test_unknown_key(region_proc: RegionProcess) -> None:
    expect_error(
        lambda: _client(region_proc.url, "AKIDNOSUCHKEY", "x").list_tables(),
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


def test_wrong_secret(region_proc: RegionProcess) -> None:
    err = expect_error(
        lambda: _client(region_proc.url, ADMIN_KEY_ID, "not-the-secret").list_tables(),
        "InvalidSignatureException",
    )
    assert err.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided."
    )


def test_tampered_body_or_signature(region_proc: RegionProcess, table: str) -> None:
    def tamper_body(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b'"S": "v1"', b'"S": "v2"')

    def tamper_signature(request: Any, **_: Any) -> None:
        auth = request.headers["Authorization"]
        auth = auth.decode() if isinstance(auth, bytes) else auth
        request.headers["Authorization"] = auth[:-1] + ("0" if auth[-1] != "0" else "1")

    item = {"p": {"S": "k"}, "a": {"S": "v1"}}
    for hook in (tamper_body, tamper_signature):
        client = _client(region_proc.url)
        client.meta.events.register("before-send.dynamodb.PutItem", hook)
        expect_error(
            lambda c=client: c.put_item(TableName=table, Item=item), "InvalidSignatureException"
        )
    assert "Item" not in _client(region_proc.url).get_item(TableName=table, Key={"p": {"S": "k"}})


def _signed_then_added(
    url: str, body: bytes, signed: dict[str, str], added: dict[str, str]
) -> httpx.Response:
    """POST / signed by botocore over ``signed`` (host and x-amz-date besides), with
    ``added`` put on afterwards: headers the signature does not cover."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url + "/", data=body, headers=signed)
    SigV4Auth(Credentials(ADMIN_KEY_ID, ADMIN_SECRET), "dynamodb", REGION).add_auth(request)
    assert "x-amz-target" not in request.headers["Authorization"] or "X-Amz-Target" in signed
    return httpx.post(url + "/", content=body, headers={**dict(request.headers), **added})


def test_unsigned_x_amz_headers_are_refused(region_proc: RegionProcess, table: str) -> None:
    """A signature that leaves out X-Amz-Target (or any x-amz-* header the request
    carries) does not cover it: adding ``X-Amz-Target: ...DeleteItem`` to a request
    signed without one must not delete anything."""
    ddb = _client(region_proc.url)
    key = {"p": {"S": "kept"}}
    ddb.put_item(TableName=table, Item={**key, "a": {"S": "v"}})
    body = json.dumps({"TableName": table, "Key": key}).encode()
    json_type = {"Content-Type": "application/x-amz-json-1.0"}
    delete = {"X-Amz-Target": "DynamoDB_20120810.DeleteItem"}
    for signed, added, name in (
        # the operation added after signing
        (json_type, delete, "x-amz-target"),
        # the operation signed, another x-amz-* header added
        ({**json_type, **delete}, {"X-Amz-Foo": "bar"}, "x-amz-foo"),
    ):
        response = _signed_then_added(region_proc.url, body, signed, added)
        assert response.status_code == 400, response.text
        assert response.json() == {
            "__type": SERVICE_NS + "InvalidSignatureException",
            "message": f"'{name}' must be a 'SignedHeader' in the AWS Authorization.",
        }
        assert ddb.get_item(TableName=table, Key=key)["Item"]["a"] == {"S": "v"}
    # what is neither x-amz-* nor signed by the SDKs rides along as before
    extra = {"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793", "User-Agent": "t"}
    response = _signed_then_added(region_proc.url, body, {**json_type, **delete}, extra)
    assert response.status_code == 200, response.text
    assert "Item" not in ddb.get_item(TableName=table, Key=key)


def _signed_at(url: str, when: datetime.datetime) -> ClientError:
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=when),
        pytest.raises(ClientError) as info,
    ):
        _client(url).list_tables()
    return info.value


def test_expired_signature(region_proc: RegionProcess) -> None:
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=6)
    err = _signed_at(region_proc.url, then).response["Error"]
    assert err["Code"] == "InvalidSignatureException"
    signed = then.strftime("%Y%m%dT%H%M%SZ")
    assert re.fullmatch(
        rf"Signature expired: {signed} is now earlier than ({_BASIC}) \(({_BASIC}) - 5 min\.\)",
        err["Message"],
    ), err["Message"]


def test_signature_from_the_future(region_proc: RegionProcess) -> None:
    then = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=16)
    err = _signed_at(region_proc.url, then).response["Error"]
    assert err["Code"] == "InvalidSignatureException"
    signed = then.strftime("%Y%m%dT%H%M%SZ")
    assert re.fullmatch(
        rf"Signature not yet current: {signed} is still later than {_BASIC} \({_BASIC} \+ 15 min\.\)",
        err["Message"],
    ), err["Message"]


def test_small_clock_skew_is_accepted(region_proc: RegionProcess) -> None:
    for minutes in (-4, 14):
        when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            assert "TableNames" in _client(region_proc.url).list_tables()


def test_scope_must_be_this_region(region_proc: RegionProcess) -> None:
    expect_error(
        lambda: _client(region_proc.url, region="us-west-2").list_tables(),
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'us-west-2'.",
    )


def test_missing_authorization(region_proc: RegionProcess) -> None:
    expect_error(
        lambda: _unsigned(region_proc.url).list_tables(),
        "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
    )
    raw = httpx.post(
        region_proc.url + "/",
        content=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
        },
    )
    assert raw.status_code == 400
    assert raw.json() == {
        "__type": SERVICE_NS + "MissingAuthenticationTokenException",
        "message": "Request is missing Authentication Token",
    }


def test_streams_client_is_authenticated(region_proc: RegionProcess) -> None:
    assert "Streams" in _client(region_proc.url, service="dynamodbstreams").list_streams()
    expect_error(
        lambda: _client(
            region_proc.url, "AKIDNOSUCHKEY", "x", service="dynamodbstreams"
        ).list_streams(),
        "UnrecognizedClientException",
    )
    expect_error(
        lambda: _unsigned(region_proc.url, "dynamodbstreams").list_streams(),
        "MissingAuthenticationTokenException",
    )


# ------------------------------------------------------------------ other routes


def test_rest_admin_and_internal_apis_are_authenticated(region_proc: RegionProcess) -> None:
    for path in ("/v1/tables", "/v1/admin/users", "/v1/internal/verify/tables"):
        unsigned = httpx.get(region_proc.url + path)
        assert unsigned.status_code == 403, path
        assert unsigned.json()["message"] == "Request is missing Authentication Token"
        assert http().get(region_proc.url + path).status_code == 200, path
    # peers read __type on the internal API, REST clients read "error"
    assert httpx.get(region_proc.url + "/v1/internal/verify/tables").json()["__type"] == (
        SERVICE_NS + "MissingAuthenticationTokenException"
    )
    assert httpx.get(region_proc.url + "/v1/tables").json()["error"] == (
        "MissingAuthenticationTokenException"
    )


def test_health_metrics_dashboard_and_status_stay_public(region_proc: RegionProcess) -> None:
    for path in (
        "/",
        "/healthz",
        "/metrics",
        "/dashboard",
        "/openapi.json",
        "/docs",
        "/v1/deployment",
        "/v1/replication",
        "/v1/conflicts",
    ):
        assert httpx.get(region_proc.url + path).status_code == 200, path


def test_status_routes_need_a_signature_without_public_status(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    d = tmp_path_factory.mktemp("private")
    proc = RegionProcess(
        REGION, free_port(), f"sqlite:///{d}/p.db", log_dir=d, extra_args=["--no-public-status"]
    ).start()
    try:
        for path in ("/v1/deployment", "/v1/replication", "/v1/conflicts"):
            assert httpx.get(proc.url + path).status_code == 403, path
            assert http().get(proc.url + path).status_code == 200, path
        # the dashboard page itself and the health check stay public
        assert httpx.get(proc.url + "/healthz").status_code == 200
        assert httpx.get(proc.url + "/dashboard").status_code == 200
    finally:
        proc.stop()


# ------------------------------------------------------------------ presigned requests
#
# SigV4 in the query string, which DynamoDB accepts (dynalite's connection tests,
# written against DynamoDB, record its checks and texts).  Signed with botocore's own
# query signer; botocore's presigner would move a JSON body into the query string
# (what the query protocol reads), so the body is kept as the body here.

_TARGET = "DynamoDB_20120810."
_JSON = "application/x-amz-json-1.0"


class _QueryAuthKeepingBody(SigV4QueryAuth):
    def _modify_request_before_signing(self, request: Any) -> None:
        data = request.data
        request.data = b""
        try:
            super()._modify_request_before_signing(request)
        finally:
            request.data = data


def _presigned(
    url: str,
    operation: str,
    body: dict[str, Any],
    *,
    expires: int = 3600,
    when: datetime.datetime | None = None,
    secret: str = ADMIN_SECRET,
    path: str = "/",
) -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": _JSON, "X-Amz-Target": _TARGET + operation},
    )
    signer = _QueryAuthKeepingBody(
        BotoCredentials(ADMIN_KEY_ID, secret), "dynamodb", REGION, expires=expires
    )
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    return request


def _send(request: AWSRequest, **replace: Any) -> httpx.Response:
    headers = {k: v for k, v in request.headers.items()}
    return httpx.post(request.url, content=replace.get("content", request.body), headers=headers)


def _error(r: httpx.Response) -> tuple[str, str]:
    assert r.status_code == 400, r.text
    body = r.json()
    return body["__type"], body["message"]


def test_presigned_requests_are_accepted(region_proc: RegionProcess, table: str) -> None:
    url = region_proc.url
    r = _send(_presigned(url, "ListTables", {}))
    assert r.status_code == 200, r.text
    assert table in r.json()["TableNames"]
    assert "X-Amz-Signature=" in _presigned(url, "ListTables", {}).url
    item = {"p": {"S": "presigned"}, "v": {"N": "1"}}
    assert _send(_presigned(url, "PutItem", {"TableName": table, "Item": item})).status_code == 200
    got = _send(_presigned(url, "GetItem", {"TableName": table, "Key": {"p": {"S": "presigned"}}}))
    assert got.json() == {"Item": item}
    # a signature made 30 minutes ago for an hour is good, though a header signature
    # that old is expired (5 minutes)
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=30)
    assert _send(_presigned(url, "ListTables", {}, when=then)).status_code == 200
    # the longest X-Amz-Expires, seven days
    assert _send(_presigned(url, "ListTables", {}, expires=604800)).status_code == 200


def test_presigned_signature_covers_body_query_and_target(
    region_proc: RegionProcess, table: str
) -> None:
    url = region_proc.url
    signed = _presigned(url, "PutItem", {"TableName": table, "Item": {"p": {"S": "a"}}})
    tampered = json.dumps({"TableName": table, "Item": {"p": {"S": "b"}}}).encode()
    kind, message = _error(_send(signed, content=tampered))
    assert kind == SERVICE_NS + "InvalidSignatureException"
    assert message.startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    # another operation named after signing
    request = _presigned(url, "ListTables", {})
    request.headers["X-Amz-Target"] = _TARGET + "DeleteTable"
    assert _error(_send(request))[0] == SERVICE_NS + "InvalidSignatureException"
    # a query parameter added after signing
    request = _presigned(url, "ListTables", {})
    request.url += "&extra=1"
    assert _error(_send(request))[0] == SERVICE_NS + "InvalidSignatureException"
    # an x-amz-* header the signature does not cover
    request = _presigned(url, "ListTables", {})
    request.headers["X-Amz-Meta"] = "x"
    assert _error(_send(request)) == (
        SERVICE_NS + "InvalidSignatureException",
        "'x-amz-meta' must be a 'SignedHeader' in the AWS Authorization.",
    )
    # the wrong secret
    kind, _ = _error(_send(_presigned(url, "ListTables", {}, secret="wrong")))
    assert kind == SERVICE_NS + "InvalidSignatureException"
    assert get_item_absent(url, table, "a")


def get_item_absent(url: str, table: str, key: str) -> bool:
    r = _send(_presigned(url, "GetItem", {"TableName": table, "Key": {"p": {"S": key}}}))
    return r.status_code == 200 and "Item" not in r.json()


def test_presigned_request_expires(region_proc: RegionProcess) -> None:
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=120)
    kind, message = _error(_send(_presigned(region_proc.url, "ListTables", {}, expires=60, when=then)))
    assert kind == SERVICE_NS + "InvalidSignatureException"
    signed = then.strftime("%Y%m%dT%H%M%SZ")
    assert re.fullmatch(
        rf"Signature expired: {signed} is now earlier than {_BASIC} \({_BASIC} - 60 sec\.\)",
        message,
    ), message
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=16)
    kind, message = _error(_send(_presigned(region_proc.url, "ListTables", {}, when=later)))
    assert kind == SERVICE_NS + "InvalidSignatureException"
    assert message.startswith("Signature not yet current: ")


def test_presigned_expiry_is_at_most_seven_days(region_proc: RegionProcess) -> None:
    assert _error(_send(_presigned(region_proc.url, "ListTables", {}, expires=604801))) == (
        SERVICE_NS + "InvalidSignatureException",
        "X-Amz-Expires must be less than a week (in seconds); that is, the given "
        "X-Amz-Expires must be less than 604800 seconds",
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "X-Amz-Algorithm",
            "AWS query-string parameters must include 'X-Amz-Algorithm'. "
            "AWS query-string parameters must include 'X-Amz-Credential'. "
            "AWS query-string parameters must include 'X-Amz-Signature'. "
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
            "AWS query-string parameters must include 'X-Amz-Date'. "
            "Re-examine the query-string parameters.",
        ),
        (
            "X-Amz-Algorithm=a&X-Amz-Credential=b&X-Amz-Signature=c&X-Amz-Date=d",
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
            "Re-examine the query-string parameters.",
        ),
    ],
    ids=["all-missing", "signed-headers-missing"],
)
def test_incomplete_query_signature(region_proc: RegionProcess, query: str, message: str) -> None:
    """dynalite's connection tests, verbatim (recorded from DynamoDB)."""
    r = httpx.post(
        f"{region_proc.url}/?{query}",
        content=b"{}",
        headers={"Content-Type": _JSON, "X-Amz-Target": _TARGET + "ListTables"},
    )
    assert _error(r) == (SERVICE_NS + "IncompleteSignatureException", message)


def test_query_and_header_signature_together(region_proc: RegionProcess) -> None:
    r = httpx.post(
        f"{region_proc.url}/?X-Amz-Algorithm",
        content=b"{}",
        headers={"X-Amz-Target": _TARGET + "ListTables", "Authorization": "X"},
    )
    assert _error(r) == (
        SERVICE_NS + "InvalidSignatureException",
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
    )
    # without X-Amz-Algorithm the other query parameters sign nothing
    r = httpx.post(
        f"{region_proc.url}/?X-Amz-Credential=a&X-Amz-Signature=b&X-Amz-SignedHeaders=c&X-Amz-Date=d",
        content=b"{}",
        headers={"X-Amz-Target": _TARGET + "ListTables"},
    )
    assert _error(r) == (
        SERVICE_NS + "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
    )


# ------------------------------------------------------------------ --allow-anonymous


def test_anonymous_region_serves_unsigned_and_still_verifies_signed(
    anonymous: RegionProcess,
) -> None:
    assert "TableNames" in _unsigned(anonymous.url).list_tables()
    assert httpx.get(anonymous.url + "/v1/tables").status_code == 200
    expect_error(
        lambda: _client(anonymous.url, "AKIDNOSUCHKEY", "x").list_tables(),
        "UnrecognizedClientException",
    )
    expect_error(
        lambda: _client(anonymous.url, ADMIN_KEY_ID, "wrong").list_tables(),
        "InvalidSignatureException",
    )
    assert "TableNames" in _client(anonymous.url).list_tables()
    # a presigned request is verified too, not taken for an anonymous one
    kind, _ = _error(_send(_presigned(anonymous.url, "ListTables", {}, secret="wrong")))
    assert kind == SERVICE_NS + "InvalidSignatureException"
    assert _send(_presigned(anonymous.url, "ListTables", {})).status_code == 200


# ------------------------------------------------------------------ identities


def test_cli_key_works_at_once_and_stops_when_revoked(
    region_proc: RegionProcess, user_key: dict[str, str]
) -> None:
    assert set(user_key) == {"UserName", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"}
    assert user_key["Status"] == "Active"
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", user_key["AccessKeyId"])
    assert len(user_key["SecretAccessKey"]) == 40
    datetime.datetime.fromisoformat(user_key["CreateDate"])
    client = _client(region_proc.url, user_key["AccessKeyId"], user_key["SecretAccessKey"])
    assert "TableNames" in client.list_tables()
    streams = _client(
        region_proc.url,
        user_key["AccessKeyId"],
        user_key["SecretAccessKey"],
        service="dynamodbstreams",
    )
    assert "Streams" in streams.list_streams()

    listed = _cli("keys", "list", "--user", user_key["UserName"], "--endpoint", region_proc.url)
    assert user_key["AccessKeyId"] in listed.output
    assert user_key["SecretAccessKey"] not in listed.output

    out = _cli("keys", "revoke", user_key["AccessKeyId"], "--endpoint", region_proc.url)
    assert out.exit_code == 0, out.output
    expect_error(client.list_tables, "UnrecognizedClientException")


def test_users_are_not_admins(region_proc: RegionProcess, user_key: dict[str, str]) -> None:
    out = _cli(
        "users",
        "list",
        "--endpoint",
        region_proc.url,
        key=user_key["AccessKeyId"],
        secret=user_key["SecretAccessKey"],
    )
    assert out.exit_code != 0
    assert "AccessDeniedException" in out.output
    assert f"user/{user_key['UserName']} is not authorized to perform: iam:ListUsers" in out.output


def test_users_list_and_delete(region_proc: RegionProcess, user_key: dict[str, str]) -> None:
    name = user_key["UserName"]
    listed = _cli("users", "list", "--endpoint", region_proc.url, "--json")
    assert name in {u["UserName"] for u in json.loads(listed.output)["Users"]}
    again = _cli("users", "create", name, "--endpoint", region_proc.url)
    assert again.exit_code != 0 and "EntityAlreadyExistsException" in again.output
    assert _cli("users", "delete", name, "--endpoint", region_proc.url).exit_code == 0
    client = _client(region_proc.url, user_key["AccessKeyId"], user_key["SecretAccessKey"])
    expect_error(client.list_tables, "UnrecognizedClientException")
    gone = _cli("users", "delete", name, "--endpoint", region_proc.url)
    assert gone.exit_code != 0 and "NoSuchEntityException" in gone.output


def test_users_carry_their_policies(region_proc: RegionProcess, tmp_path: Any) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}],
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    name = unique("pol")
    out = _cli("users", "create", name, "--policy", str(path), "--endpoint", region_proc.url)
    assert out.exit_code == 0, out.output
    got = http().get(f"{region_proc.url}/v1/admin/users/{name}").json()
    assert got["User"]["Policies"] == [policy]
    assert got["User"]["Arn"] == f"arn:aws:iam::000000000000:user/{name}"
    bad = http().post(
        f"{region_proc.url}/v1/admin/users", json={"UserName": unique("pol"), "Policies": [1]}
    )
    assert bad.status_code == 400
    _cli("users", "delete", name, "--endpoint", region_proc.url)


def test_secrets_never_reach_the_log(region_proc: RegionProcess, user_key: dict[str, str]) -> None:
    log = region_proc.log_tail(10**7)
    assert user_key["AccessKeyId"] in log  # the creation is logged...
    assert user_key["SecretAccessKey"] not in log  # ...its secret is not
    # nor stored in clear
    db = region_proc.store.removeprefix("sqlite:///")
    for suffix in ("", "-wal"):
        if os.path.exists(db + suffix):
            with open(db + suffix, "rb") as f:
                assert user_key["SecretAccessKey"].encode() not in f.read()


def test_identities_table_is_hidden(ddb: Any, raw_ddb: Any) -> None:
    name = system_tables.IDENTITIES
    assert name not in ddb.list_tables()["TableNames"]
    arn = f"arn:aws:dynamodb:{REGION}:000000000000:table/{name}"
    expect_error(lambda: raw_ddb.describe_table(TableName=arn), "ResourceNotFoundException")
    expect_error(
        lambda: raw_ddb.scan(TableName=arn),
        "ResourceNotFoundException",
    )
    expect_error(
        lambda: raw_ddb.get_item(TableName=arn, Key={"pk": {"S": "user#x"}}),
        "ResourceNotFoundException",
    )
    expect_error(lambda: raw_ddb.describe_table(TableName=name), "ValidationException")


def test_admin_key_from_a_config_file(tmp_path_factory: pytest.TempPathFactory) -> None:
    d = tmp_path_factory.mktemp("configured")
    config = d / "region.toml"
    config.write_text(
        'admin_access_key_id = "AKIDFROMFILE"\n'
        'admin_secret_access_key = "file-secret"\n'
        'secret_key = "a-secret-key-from-the-file-0123"\n'
    )
    config.chmod(0o600)
    empty = {
        k: ""
        for k in (
            "GLOBALTABLES_ADMIN_ACCESS_KEY_ID",
            "GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY",
            "GLOBALTABLES_SECRET_KEY",
        )
    }
    proc = RegionProcess(
        REGION, free_port(), f"sqlite:///{d}/c.db", log_dir=d,
        extra_args=["--config", str(config)], env=empty,
    ).start()  # fmt: skip
    try:
        assert "TableNames" in _client(proc.url, "AKIDFROMFILE", "file-secret").list_tables()
        expect_error(lambda: _client(proc.url).list_tables(), "UnrecognizedClientException")
        log = proc.log_tail(10**6)
        assert "file-secret" not in log and "a-secret-key-from-the-file" not in log
        assert "other users may read it" not in log
    finally:
        proc.stop()


def test_users_cannot_use_the_region_to_region_api(
    region_proc: RegionProcess, user_key: dict[str, str]
) -> None:
    from regions.sigv4 import Credentials as _Credentials
    from replicator.signing import KeySigner as _KeySigner
    from replicator.signing import SigV4 as _SigV4

    auth = _SigV4(_KeySigner(_Credentials(user_key["AccessKeyId"], user_key["SecretAccessKey"])))
    with httpx.Client(timeout=30, auth=auth) as client:
        # pushing rows would write past every table policy
        resp = client.post(f"{region_proc.url}/v1/internal/tables/anything/rows", content=b"[]")
        assert resp.status_code == 403, resp.text
        assert "not authorized to use the region-to-region API" in resp.text
        resp = client.put(f"{region_proc.url}/v1/internal/tables/anything", content=b"{}")
        assert resp.status_code == 403, resp.text


def test_a_malformed_replica_spec_is_refused_not_a_server_error(region_proc: RegionProcess) -> None:
    """The region-to-region API's replica spec, forged or broken (the admin key signs it):
    400, nothing stored, never a 500."""
    from regions.sigv4 import Credentials as _Credentials
    from replicator.signing import KeySigner as _KeySigner
    from replicator.signing import SigV4 as _SigV4

    auth = _SigV4(_KeySigner(_Credentials(ADMIN_KEY_ID, ADMIN_SECRET)))
    bodies = [
        b"not json",
        b"[]",
        b"{}",
        b'{"name": "x", "table_id": "t", "key_schema": {"hash": ["p"]}, "attributes": {}, '
        b'"created_at": 0}',
        b'{"name": "x", "table_id": "t", "key_schema": {"hash": ["p", "S"]}, "attributes": {}, '
        b'"created_at": 0, "replicas": [{"region": "a", "settings": ["not", "a", "map"]}]}',
        b'{"name": "x", "table_id": "t", "key_schema": {"hash": ["p", "S"]}, "attributes": {}, '
        b'"created_at": "soon"}',
    ]
    with httpx.Client(timeout=30, auth=auth) as client:
        for body in bodies:
            resp = client.put(f"{region_proc.url}/v1/internal/tables/x", content=body)
            assert resp.status_code == 400, (body, resp.status_code, resp.text)
            assert "malformed table spec" in resp.text
