"""The conflict log is item data (issue 14.7): the public status routes show it
without keys or images; a key allowed to read the item (the admin key, or a user
whose policy allows GetItem on the table) sees them.  Real regions, real Kafka, a
real last-writer-wins conflict."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from typing import Any

import httpx

from regions.sigv4 import Credentials
from replicator.signing import KeySigner, SigV4
from tests.fixtures.regions import REPO, RegionProcess, cli_env
from tests.integration.api.support import http
from tests.integration.replication.helpers import NAMES, eventually, make_global

TABLE = "conflicts_visible"


def _policy(table: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
                "Resource": f"arn:aws:dynamodb:*:*:table/{table}",
            }
        ],
    }


def _user(proc: RegionProcess, name: str, policy: dict[str, Any]) -> httpx.Client:
    created = http().post(
        f"{proc.url}/v1/admin/users", json={"UserName": name, "Policies": [policy]}
    )
    assert created.status_code == 201, created.text
    key = http().post(f"{proc.url}/v1/admin/users/{name}/keys").json()["AccessKey"]
    signer = KeySigner(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    return httpx.Client(timeout=30, auth=SigV4(signer))


def _conflicts(client: httpx.Client, proc: RegionProcess) -> httpx.Response:
    return client.get(f"{proc.url}/v1/conflicts", params={"table": TABLE, "limit": 1000})


def _make_conflict(regions: dict[str, RegionProcess], key: str, secret: str) -> RegionProcess:
    """Interleaved writes of one key in two regions until some region logs a change
    that lost; that region."""
    clients = make_global(regions, TABLE)
    admin = http()
    found: list[RegionProcess] = []

    def logged() -> bool:
        found[:] = [p for p in regions.values() if _conflicts(admin, p).json()["conflicts"]]
        return bool(found)

    for _ in range(20):
        barrier = threading.Barrier(2)

        def writer(n: str, barrier: threading.Barrier) -> None:
            barrier.wait()
            for i in range(10):
                clients[n].put_item(
                    TableName=TABLE,
                    Item={
                        "id": {"S": key},
                        "secret": {"S": secret},
                        "by": {"S": n},
                        "i": {"N": str(i)},
                    },
                )

        threads = [threading.Thread(target=writer, args=(n, barrier)) for n in NAMES[:2]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            eventually(logged, timeout=5, what="a logged conflict")
        except AssertionError:
            continue
        return found[0]
    raise AssertionError("no conflict after 20 rounds of interleaved writes")


def test_conflict_log_shows_item_data_only_to_readers(regions: dict[str, RegionProcess]) -> None:
    key = f"k-{uuid.uuid4().hex}"
    secret = f"payload-{uuid.uuid4().hex}"
    suffix = uuid.uuid4().hex[:8]
    east = regions["us-east-1"]
    reader = _user(east, f"reader-{suffix}", _policy(TABLE))
    outsider = _user(east, f"outsider-{suffix}", _policy("some_other_table"))
    where = _make_conflict(regions, key, secret)

    # unsigned: the entries, without keys or images
    public = httpx.get(f"{where.url}/v1/conflicts", params={"table": TABLE}, timeout=10)
    assert public.status_code == 200
    assert key not in public.text and secret not in public.text
    body = public.json()
    assert body["conflicts"] and body["complete"] is False
    for c in body["conflicts"]:
        assert c["keys"] is None and c["redacted"] is True and "image" not in c["loser"]
        assert c["table"] == TABLE and c["loser"]["origin"] in NAMES[:2]

    # a user who may not read the table: the same (once its key has replicated there)
    eventually(lambda: _conflicts(outsider, where).status_code == 200, what="outsider's key")
    denied = _conflicts(outsider, where)
    assert key not in denied.text and secret not in denied.text
    assert all(c["keys"] is None for c in denied.json()["conflicts"])

    # a user who may GetItem on the table, and the admin: keys and losing images
    eventually(lambda: _conflicts(reader, where).status_code == 200, what="reader's key")
    for client in (reader, http()):
        full = _conflicts(client, where).json()
        assert full["complete"] is True and full["conflicts"]
        for c in full["conflicts"]:
            assert c["keys"] == {"id": {"S": key}} and c["redacted"] is False
            assert c["loser"]["image"]["secret"] == {"S": secret}

    # a wrong signature is refused, not served as public
    forged = SigV4(KeySigner(Credentials("AKIDTEST", "not-the-secret")))
    assert httpx.get(f"{where.url}/v1/conflicts", auth=forged, timeout=10).status_code == 403

    # the dashboard's view: rows without keys for the page, with keys for the admin
    def rows(client: httpx.Client | None) -> list[dict[str, Any]]:
        get = client.get if client is not None else httpx.get
        resp = get(f"{east.url}/v1/deployment", timeout=10)
        assert resp.status_code == 200
        assert client is not None or (key not in resp.text and secret not in resp.text)
        return [c for c in resp.json()["conflicts"] if c["table"] == TABLE]

    eventually(lambda: bool(rows(None)), what="conflicts in the deployment view")
    assert all(c["keys"] is None and c["redacted"] for c in rows(None))
    assert all(c["keys"] == {"id": {"S": key}} for c in rows(http()))

    # the CLI signs: the admin key sees the key, no credentials see "(hidden)"
    cmd = [sys.executable, "-m", "globaltables.cli", "conflicts", "--endpoint", where.url,
           "--table", TABLE]  # fmt: skip
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60, env=cli_env())
    assert out.returncode == 0, out.stderr
    assert key[:20] in out.stdout
    anonymous = {k: v for k, v in cli_env().items() if not k.startswith("AWS_ACCESS")}
    anonymous.pop("AWS_SECRET_ACCESS_KEY", None)
    anonymous["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60, env=anonymous)
    assert out.returncode == 0, out.stderr
    assert "(hidden)" in out.stdout and key[:20] not in out.stdout
