"""How a region authenticates: the bootstrap admin key, the key that encrypts stored
secrets, and the two operator switches (docs/security.md).

Secrets stay out of ``repr`` so that logging a settings object never prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from regions.secrets import SecretBox
from regions.sigv4 import Credentials

__all__ = ["AuthSettings"]


@dataclass(frozen=True)
class AuthSettings:
    #: the bootstrap admin key (every region of a deployment has the same one: regions
    #: sign their calls to each other with it)
    admin_access_key_id: str | None = None
    admin_secret_access_key: str | None = field(default=None, repr=False)
    #: encrypts users' secret access keys at rest; the same in every region
    secret_key: str | None = field(default=None, repr=False)
    #: unsigned requests run unauthenticated (local development only)
    allow_anonymous: bool = False
    #: /v1/deployment, /v1/replication and /v1/conflicts answer without a signature
    public_status: bool = True

    def __post_init__(self) -> None:
        if (self.admin_access_key_id is None) != (self.admin_secret_access_key is None):
            raise ValueError("the admin key needs both an access key id and a secret access key")
        if self.admin_access_key_id is not None and not self.admin_access_key_id.strip():
            raise ValueError("the admin access key id cannot be empty")
        if self.admin_secret_access_key is not None and not self.admin_secret_access_key:
            raise ValueError("the admin secret access key cannot be empty")
        if self.secret_key is not None:
            SecretBox(self.secret_key)  # fail at start-up, not at the first CreateAccessKey

    @property
    def admin(self) -> Credentials | None:
        if self.admin_access_key_id is None or self.admin_secret_access_key is None:
            return None
        return Credentials(self.admin_access_key_id, self.admin_secret_access_key)

    def secret_box(self) -> SecretBox | None:
        return SecretBox(self.secret_key) if self.secret_key is not None else None
