"""Who is making the current request: the contract between authentication (SigV4,
``api/auth``) and authorization (policies, ``regions/policy.py``).

Authentication sets :data:`current` for the duration of a request; authorization
reads it.  ``None`` means the region runs with ``--allow-anonymous`` and the
request carried no signature: everything is allowed, as before authentication
existed.  The admin (bootstrap key) has ``policies=None``: allowed everything.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ADMIN", "Principal", "current"]


@dataclass(frozen=True)
class Principal:
    #: user name ("admin" for the bootstrap key)
    name: str
    access_key_id: str
    #: IAM-style policy documents attached to the user; None = unrestricted (admin)
    policies: tuple[dict[str, Any], ...] | None = field(default=())
    account_id: str = "000000000000"

    @property
    def is_admin(self) -> bool:
        return self.policies is None

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{self.name}"


ADMIN = "admin"

#: the principal of the request being served (set by api/auth, read by policies)
current: ContextVar[Principal | None] = ContextVar("globaltables_principal", default=None)
