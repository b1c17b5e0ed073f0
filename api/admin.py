"""``/v1/admin``: users and access keys (``globaltables users`` / ``keys`` call these).

Shapes follow IAM's (``aws iam create-user``, ``create-access-key``,
``list-access-keys``) so that scripts written for those read these too.  Writes go
to the identities system table and replicate to every region.

Who may call them is decided by :func:`authorize_admin`, in this one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response

from api.errors import rest_status
from regions import principals
from regions.errors import DynamoError, SerializationError, ValidationError
from regions.identities import Identities
from regions.principals import Principal

__all__ = ["AdminAccessDenied", "admin_only", "authorize_admin", "router"]

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class AdminAccessDenied(DynamoError):
    code = "AccessDeniedException"


def authorize_admin(principal: Principal | None, action: str, resource: str) -> None:
    """May ``principal`` perform the IAM ``action`` (``CreateUser``...) on ``resource``?

    The bootstrap key may (``policies=None``), and so may an unsigned request on a
    region run with ``--allow-anonymous`` (``None``: allowed everything).  Users may
    not: identities are the admin's business until policies grant ``iam:`` actions.
    """
    if principal is None or principal.is_admin:
        return
    raise AdminAccessDenied(
        f"User: {principal.arn} is not authorized to perform: iam:{action} on resource: "
        f"{resource} because no identity-based policy allows the iam:{action} action"
    )


def admin_only(what: str) -> Callable[[], None]:
    """A route dependency: only the deployment's admin key may ``what`` (anonymous
    requests pass only where --allow-anonymous is on); users get 403."""

    def check() -> None:
        principal = principals.current.get()
        if principal is not None and not principal.is_admin:
            raise HTTPException(
                status_code=403, detail=f"User: {principal.arn} is not authorized to {what}"
            )

    return check


def _identities(request: Request) -> Identities:
    identities: Identities = request.app.state.identities
    return identities


def _user_arn(request: Request, name: str) -> str:
    return f"arn:aws:iam::{_identities(request).account_id}:user/{name}"


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(exc: DynamoError) -> Response:
    return _json({"error": exc.code, "message": exc.message}, rest_status(exc))


async def _body(request: Request) -> dict[str, Any]:
    try:
        value = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise SerializationError("The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise SerializationError("The request body must be a JSON object")
    return value


def _policies(body: dict[str, Any]) -> list[Any]:
    policies = body.get("Policies", [])
    if not isinstance(policies, list):
        raise ValidationError("Policies must be a list of policy documents")
    return policies


@router.post("/users", summary="Create a user (optionally with policy documents)", status_code=201)
async def create_user(request: Request) -> Response:
    try:
        body = await _body(request)
        name = body.get("UserName")
        if not isinstance(name, str):
            raise ValidationError("UserName is required")
        authorize_admin(principals.current.get(), "CreateUser", _user_arn(request, name))
        ids = _identities(request)
        user = await ids.create_user(name, _policies(body))
    except DynamoError as exc:
        return _error(exc)
    return _json({"User": user.to_json(ids.account_id)}, 201)


@router.get("/users", summary="List users")
async def list_users(request: Request) -> Response:
    try:
        authorize_admin(principals.current.get(), "ListUsers", _user_arn(request, "*"))
        ids = _identities(request)
        users = await ids.list_users()
    except DynamoError as exc:
        return _error(exc)
    return _json({"Users": [u.to_json(ids.account_id) for u in users]})


@router.get("/users/{name}", summary="A user, with its access keys (without secrets)")
async def get_user(name: str, request: Request) -> Response:
    try:
        authorize_admin(principals.current.get(), "GetUser", _user_arn(request, name))
        ids = _identities(request)
        user = await ids.get_user(name)
        keys = await ids.list_keys(name)
    except DynamoError as exc:
        return _error(exc)
    return _json(
        {"User": user.to_json(ids.account_id), "AccessKeyMetadata": [k.to_json() for k in keys]}
    )


@router.put("/users/{name}/policies", summary="Replace a user's policy documents")
async def put_policies(name: str, request: Request) -> Response:
    try:
        authorize_admin(principals.current.get(), "PutUserPolicy", _user_arn(request, name))
        ids = _identities(request)
        user = await ids.set_policies(name, _policies(await _body(request)))
    except DynamoError as exc:
        return _error(exc)
    return _json({"User": user.to_json(ids.account_id)})


@router.delete("/users/{name}", summary="Delete a user and its access keys")
async def delete_user(name: str, request: Request) -> Response:
    try:
        authorize_admin(principals.current.get(), "DeleteUser", _user_arn(request, name))
        await _identities(request).delete_user(name)
    except DynamoError as exc:
        return _error(exc)
    return _json({})


@router.post(
    "/users/{name}/keys",
    summary="Create an access key (the only response that shows its secret)",
    status_code=201,
)
async def create_key(name: str, request: Request) -> Response:
    try:
        authorize_admin(principals.current.get(), "CreateAccessKey", _user_arn(request, name))
        new = await _identities(request).create_key(name)
    except DynamoError as exc:
        return _error(exc)
    return _json(new.to_json(), 201)


@router.get("/keys", summary="List access keys (of one user with ?user=NAME)")
async def list_keys(request: Request, user: str | None = None) -> Response:
    try:
        authorize_admin(principals.current.get(), "ListAccessKeys", _user_arn(request, user or "*"))
        keys = await _identities(request).list_keys(user)
    except DynamoError as exc:
        return _error(exc)
    return _json({"AccessKeyMetadata": [k.to_json() for k in keys]})


@router.delete("/keys/{access_key_id}", summary="Revoke (delete) an access key")
async def revoke_key(access_key_id: str, request: Request) -> Response:
    try:
        authorize_admin(principals.current.get(), "DeleteAccessKey", _user_arn(request, "*"))
        await _identities(request).revoke_key(access_key_id)
    except DynamoError as exc:
        return _error(exc)
    return _json({})
