"""Users and access keys, kept in the identities system table and replicated to every
region (regions/system_tables.py), so a key created in one region works in all.

Items of the table (partition key ``pk``):

* ``user#<name>``: ``name``, ``user_id``, ``created`` (epoch s), ``policies`` (JSON
  text of the user's IAM-style policy documents, evaluated by regions/policy.py);
* ``key#<access key id>``: ``user``, ``secret`` (the secret access key, sealed with
  the region's secret key: regions/secrets.py), ``status``, ``created``.

Revoking a key deletes its item; the tombstone replicates like any delete, so a
revocation wins over every older state of the key in every region (LWW).

Lookups for authentication are cached for :data:`CACHE_TTL_S` (a signed request
would otherwise cost one store read): a local revocation clears the cache at once;
one made in another region takes effect here when it has replicated, plus at most
that long.  Secrets are never logged.
"""

from __future__ import annotations

import base64
import datetime
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from regions import policy, system_tables
from regions.auth_settings import AuthSettings
from regions.errors import ConditionalCheckFailed, DynamoError, ValidationError
from regions.principals import ADMIN, Principal
from regions.process_signals import IDENTITIES
from regions.secrets import SecretBox, SecretUnreadable
from regions.types import Item

if TYPE_CHECKING:
    from regions.region import Region

__all__ = [
    "ACTIVE",
    "CACHE_TTL_S",
    "AccessKey",
    "EntityAlreadyExists",
    "Identities",
    "NewAccessKey",
    "NoSuchEntity",
    "Resolved",
    "User",
]

log = logging.getLogger("globaltables.identities")

ACTIVE = "Active"
CACHE_TTL_S = 1.0
_USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TABLE = system_tables.IDENTITIES


class EntityAlreadyExists(DynamoError):
    code = "EntityAlreadyExistsException"


class NoSuchEntity(DynamoError):
    code = "NoSuchEntityException"


def _iso(epoch: float) -> str:
    # the shape `aws iam` prints: 2015-03-09T18:39:23+00:00
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class User:
    name: str
    user_id: str
    created: float
    policies: tuple[dict[str, Any], ...]

    def to_json(self, account_id: str) -> dict[str, Any]:
        return {
            "UserName": self.name,
            "UserId": self.user_id,
            "Arn": f"arn:aws:iam::{account_id}:user/{self.name}",
            "Path": "/",
            "CreateDate": _iso(self.created),
            "Policies": list(self.policies),
        }


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    user: str
    status: str
    created: float

    def to_json(self) -> dict[str, Any]:
        """``aws iam list-access-keys``' AccessKeyMetadata entry."""
        return {
            "UserName": self.user,
            "AccessKeyId": self.access_key_id,
            "Status": self.status,
            "CreateDate": _iso(self.created),
        }


@dataclass(frozen=True)
class NewAccessKey:
    key: AccessKey
    secret_access_key: str = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """Shaped as ``aws iam create-access-key`` prints it."""
        k = self.key
        return {
            "AccessKey": {
                "UserName": k.user,
                "AccessKeyId": k.access_key_id,
                "Status": k.status,
                "SecretAccessKey": self.secret_access_key,
                "CreateDate": _iso(k.created),
            }
        }


@dataclass(frozen=True)
class Resolved:
    """What authentication needs of an access key id: its secret and whose it is."""

    secret_access_key: str = field(repr=False)
    principal: Principal = field()


def _random(prefix: str, n: int) -> str:
    return prefix + "".join(secrets.choice(_BASE32) for _ in range(n))


def _s(item: Item, name: str) -> str:
    return str(item[name]["S"])


def _n(item: Item, name: str) -> float:
    return float(item[name]["N"])


def _check_policies(policies: list[Any]) -> tuple[dict[str, Any], ...]:
    """Each document as IAM would take it, through the one validator evaluation also
    uses (regions/policy.py): a document stored here is one every region can compile,
    and a bad one is refused with IAM's MalformedPolicyDocument before anything is
    written.  JSON text is accepted and stored parsed."""
    return tuple(policy.validate_policy(doc) for doc in policies)


class Identities:
    def __init__(self, region: Region, auth: AuthSettings) -> None:
        self.region = region
        self.account_id = region.settings.account_id
        self._admin = auth.admin
        self._box: SecretBox | None = auth.secret_box()
        self._cache: dict[str, tuple[float, Resolved | None]] = {}
        #: the shared IDENTITIES counter the cache was filled at (--workers)
        self._hint = 0

    # ------------------------------------------------------------------ authentication

    async def resolve(self, access_key_id: str) -> Resolved | None:
        """The secret and principal of a key, or None if no such active key exists."""
        admin = self._admin
        if admin is not None and access_key_id == admin.access_key_id:
            return Resolved(
                admin.secret_access_key,
                Principal(ADMIN, access_key_id, policies=None, account_id=self.account_id),
            )
        signals = self.region.signals
        if signals is not None:
            hint = signals.read(IDENTITIES)
            if hint != self._hint:
                # the primary changed users or keys: this process's copies are stale
                self._cache.clear()
                self._hint = hint
        now = time.monotonic()
        hit = self._cache.get(access_key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        resolved = await self._lookup(access_key_id)
        if len(self._cache) > 10_000:
            self._cache.clear()  # keys guessed at random must not grow it without bound
        self._cache[access_key_id] = (now + CACHE_TTL_S, resolved)
        return resolved

    def _forget(self) -> None:
        """After a local change to users or keys: drop the cached lookups, here and
        (through the shared counter) in the region's other processes."""
        self._cache.clear()
        if self.region.signals is not None:
            self.region.signals.bump(IDENTITIES)

    async def _lookup(self, access_key_id: str) -> Resolved | None:
        if not access_key_id.isascii() or len(access_key_id) > 128:
            return None
        key = await self._get(f"key#{access_key_id}")
        if key is None or _s(key, "status") != ACTIVE:
            return None
        user = await self._get(f"user#{_s(key, 'user')}")
        if user is None:
            # the user was deleted (perhaps in another region, before its keys)
            return None
        if self._box is None:
            log.warning(
                "access key %s cannot be checked: this region has no secret key "
                "(GLOBALTABLES_SECRET_KEY)",
                access_key_id,
            )
            return None
        try:
            secret = self._box.open(_s(key, "secret"), access_key_id)
        except SecretUnreadable:
            log.warning(
                "access key %s does not decrypt with this region's secret key: "
                "GLOBALTABLES_SECRET_KEY must be the same in every region",
                access_key_id,
            )
            return None
        principal = Principal(
            _s(user, "name"),
            access_key_id,
            policies=self._user(user).policies,
            account_id=self.account_id,
        )
        return Resolved(secret, principal)

    # ------------------------------------------------------------------ users

    async def create_user(self, name: str, policies: list[Any] | None = None) -> User:
        if not isinstance(name, str) or not _USER_NAME.match(name):
            raise ValidationError("UserName must be 1 to 64 letters, digits or any of _+=,.@-")
        if name == ADMIN:
            raise ValidationError(f"the user name {ADMIN!r} is the bootstrap key's")
        user = User(
            name, _random("AIDA", 17), round(time.time(), 3), _check_policies(policies or [])
        )
        try:
            await self._put(self._user_item(user), must_exist=False)
        except ConditionalCheckFailed:
            raise EntityAlreadyExists(f"User with name {name} already exists.") from None
        log.info("created user %s", name)
        return user

    async def get_user(self, name: str) -> User:
        item = await self._get(f"user#{name}")
        if item is None:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        return self._user(item)

    async def list_users(self) -> list[User]:
        return sorted(
            (self._user(i) for i in await self._scan() if _s(i, "kind") == "user"),
            key=lambda u: u.name,
        )

    async def set_policies(self, name: str, policies: list[Any]) -> User:
        user = await self.get_user(name)
        new = User(user.name, user.user_id, user.created, _check_policies(policies))
        try:
            await self._put(self._user_item(new), must_exist=True)
        except ConditionalCheckFailed:
            raise NoSuchEntity(f"The user with name {name} cannot be found.") from None
        self._forget()
        log.info("replaced the policies of user %s", name)
        return new

    async def delete_user(self, name: str) -> None:
        await self.get_user(name)
        for key in await self.list_keys(name):
            await self._delete(f"key#{key.access_key_id}")
        await self._delete(f"user#{name}")
        self._forget()
        log.info("deleted user %s and its access keys", name)

    # ------------------------------------------------------------------ access keys

    async def create_key(self, user_name: str) -> NewAccessKey:
        if self._box is None:
            raise ValidationError(
                "This region has no secret key to encrypt access keys with: set "
                "GLOBALTABLES_SECRET_KEY (the same in every region), see docs/security.md"
            )
        await self.get_user(user_name)
        key = AccessKey(_random("AKIA", 16), user_name, ACTIVE, round(time.time(), 3))
        # 30 random bytes: 40 characters of base64, the length of an AWS secret key
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        item: Item = {
            "pk": {"S": f"key#{key.access_key_id}"},
            "kind": {"S": "key"},
            "user": {"S": user_name},
            "secret": {"S": self._box.seal(secret, key.access_key_id)},
            "status": {"S": key.status},
            "created": {"N": str(key.created)},
        }
        await self._put(item, must_exist=False)
        self._forget()
        log.info("created access key %s for user %s", key.access_key_id, user_name)
        return NewAccessKey(key, secret)

    async def list_keys(self, user_name: str | None = None) -> list[AccessKey]:
        keys = [
            AccessKey(
                _s(i, "pk").removeprefix("key#"), _s(i, "user"), _s(i, "status"), _n(i, "created")
            )
            for i in await self._scan()
            if _s(i, "kind") == "key"
        ]
        return sorted(
            (k for k in keys if user_name is None or k.user == user_name),
            key=lambda k: (k.user, k.created, k.access_key_id),
        )

    async def revoke_key(self, access_key_id: str) -> None:
        if await self._get(f"key#{access_key_id}") is None:
            raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
        await self._delete(f"key#{access_key_id}")
        self._forget()
        log.info("revoked access key %s", access_key_id)

    # ------------------------------------------------------------------ storage

    def _user_item(self, user: User) -> Item:
        return {
            "pk": {"S": f"user#{user.name}"},
            "kind": {"S": "user"},
            "name": {"S": user.name},
            "user_id": {"S": user.user_id},
            "created": {"N": str(user.created)},
            "policies": {"S": orjson.dumps(list(user.policies)).decode()},
        }

    @staticmethod
    def _user(item: Item) -> User:
        return User(
            _s(item, "name"),
            _s(item, "user_id"),
            _n(item, "created"),
            tuple(orjson.loads(_s(item, "policies"))),
        )

    async def _get(self, pk: str) -> Item | None:
        with system_tables.access():
            return await self.region.data.get_item(_TABLE, {"pk": {"S": pk}})

    async def _put(self, item: Item, *, must_exist: bool) -> None:
        with system_tables.access():
            await self.region.data.put_item(
                _TABLE, item, condition=lambda old: (old is not None) == must_exist
            )

    async def _delete(self, pk: str) -> None:
        with system_tables.access():
            await self.region.data.delete_item(_TABLE, {"pk": {"S": pk}})

    async def _scan(self) -> list[Item]:
        out: list[Item] = []
        start: Any = None
        with system_tables.access():
            while True:
                page = await self.region.data.scan(_TABLE, exclusive_start_key=start)
                out.extend(page.items)
                start = page.last_evaluated_key
                if start is None:
                    return out
