"""``globaltables users`` and ``globaltables keys``: identities of a deployment.

They call a region's admin API (``/v1/admin``, api/admin.py), signed with the usual
AWS credentials (the bootstrap admin key: ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, or a profile).  Users and keys replicate, so any region
of the deployment will do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

__all__ = ["call_region", "keys", "users"]

_endpoint = click.option(
    "--endpoint",
    required=True,
    envvar="GLOBALTABLES_ENDPOINT",
    help="URL of any region of the deployment, e.g. http://127.0.0.1:8000.",
)
_as_json = click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")


def _call(endpoint: str, method: str, path: str, body: Any = None) -> Any:
    return call_region(endpoint, method, f"/v1/admin{path}", body)


def call_region(endpoint: str, method: str, path: str, body: Any = None) -> Any:
    """A signed call to a region's HTTP API; its JSON answer, or a ClickException
    with the region's message."""
    import httpx

    from globaltables.aws_auth import http_auth

    url = f"{endpoint.rstrip('/')}{path}"
    try:
        resp = httpx.request(
            method,
            url,
            content=json.dumps(body).encode() if body is not None else None,
            headers={"content-type": "application/json"} if body is not None else None,
            auth=http_auth(),
            timeout=15,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {endpoint}: {exc}") from None
    try:
        data = resp.json()
    except ValueError:
        data = None
    if resp.status_code >= 400:
        if isinstance(data, dict) and "message" in data:
            raise click.ClickException(f"{data.get('error', resp.status_code)}: {data['message']}")
        if isinstance(data, dict) and "detail" in data:
            raise click.ClickException(f"HTTP {resp.status_code}: {data['detail']}")
        raise click.ClickException(f"HTTP {resp.status_code} from {url}")
    return data


def _read_policy(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="--policy"
        ) from None
    except ValueError as exc:
        raise click.BadParameter(f"{path} is not JSON: {exc}", param_hint="--policy") from None


@click.group()
def users() -> None:
    """Create, list and delete users (they carry IAM-style policy documents)."""


@users.command("create")
@click.argument("name")
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON policy document to attach (repeatable).",
)
@_endpoint
@_as_json
def create_user(name: str, policies: tuple[Path, ...], endpoint: str, as_json: bool) -> None:
    """Create user NAME."""
    docs = [_read_policy(p) for p in policies]
    data = _call(endpoint, "POST", "/users", {"UserName": name, "Policies": docs})
    if as_json:
        click.echo(json.dumps(data, indent=4))
        return
    user = data["User"]
    click.echo(f"created user {user['UserName']} ({user['Arn']}), {len(docs)} policies")


@users.command("list")
@_endpoint
@_as_json
def list_users(endpoint: str, as_json: bool) -> None:
    """List the users."""
    data = _call(endpoint, "GET", "/users")
    if as_json:
        click.echo(json.dumps(data, indent=4))
        return
    rows = data.get("Users", [])
    if not rows:
        click.echo("no users")
        return
    click.echo(f"{'name':<32} {'created (UTC)':<26} policies")
    for u in rows:
        click.echo(f"{u['UserName']:<32} {u['CreateDate']:<26} {len(u.get('Policies', []))}")


@users.command("delete")
@click.argument("name")
@_endpoint
def delete_user(name: str, endpoint: str) -> None:
    """Delete user NAME and its access keys."""
    _call(endpoint, "DELETE", f"/users/{quote(name, safe='')}")
    click.echo(f"deleted user {name} and its access keys")


@click.group()
def keys() -> None:
    """Create, list and revoke access keys of users."""


@keys.command("create")
@click.argument("name")
@_endpoint
@_as_json
def create_key(name: str, endpoint: str, as_json: bool) -> None:
    """Create an access key for user NAME (its secret is shown this once)."""
    data = _call(endpoint, "POST", f"/users/{quote(name, safe='')}/keys")
    if as_json:
        # the shape `aws iam create-access-key` prints
        click.echo(json.dumps(data, indent=4))
        return
    key = data["AccessKey"]
    click.echo(f"AccessKeyId      {key['AccessKeyId']}")
    click.echo(f"SecretAccessKey  {key['SecretAccessKey']}")
    click.echo("(the secret is not shown again: store it now)")


@keys.command("list")
@click.option("--user", default=None, help="Only this user's keys.")
@_endpoint
@_as_json
def list_keys(user: str | None, endpoint: str, as_json: bool) -> None:
    """List access keys (never their secrets)."""
    path = "/keys" + (f"?user={quote(user, safe='')}" if user else "")
    data = _call(endpoint, "GET", path)
    if as_json:
        click.echo(json.dumps(data, indent=4))
        return
    rows = data.get("AccessKeyMetadata", [])
    if not rows:
        click.echo("no access keys")
        return
    for k in rows:
        click.echo(f"{k['AccessKeyId']:<24} {k['UserName']:<32} {k['Status']:<8} {k['CreateDate']}")


@keys.command("revoke")
@click.argument("access_key_id")
@_endpoint
def revoke_key(access_key_id: str, endpoint: str) -> None:
    """Revoke (delete) ACCESS_KEY_ID in every region."""
    _call(endpoint, "DELETE", f"/keys/{quote(access_key_id, safe='')}")
    click.echo(f"revoked {access_key_id}")
