"""Secret access keys at rest: AES-256-GCM under a key from the region's configuration.

A user's secret access key must be readable by the region (it verifies signatures
with it), so it cannot be hashed like a password; it is encrypted instead.  The key
comes from ``GLOBALTABLES_SECRET_KEY`` (or the config file's ``secret_key``) and
must be the same in every region, because the ciphertext replicates like any other
item.  A store file or a database dump alone gives away no secret.

The 256-bit AES key is derived from the configured text with HKDF-SHA256, so any
long random string works (``openssl rand -base64 32``).  The access key id is the
associated data of each ciphertext: a ciphertext copied onto another key's row does
not decrypt.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["MIN_SECRET_KEY_LENGTH", "SecretBox", "SecretUnreadable"]

#: shorter configured keys are refused: they could be guessed offline from a dump
MIN_SECRET_KEY_LENGTH = 16
_VERSION = "v1"
_NONCE = 12


class SecretUnreadable(Exception):
    """A ciphertext that this region's key cannot open (another key, or tampered)."""


class SecretBox:
    def __init__(self, configured: str) -> None:
        if len(configured) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"the secret key must have at least {MIN_SECRET_KEY_LENGTH} characters "
                "(e.g. the output of `openssl rand -base64 32`)"
            )
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"globaltables",
            info=b"globaltables access key secrets v1",
        ).derive(configured.encode())
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: str, associated: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), associated.encode())
        return f"{_VERSION}:" + base64.b64encode(nonce + sealed).decode()

    def open(self, token: str, associated: str) -> str:
        version, _, data = token.partition(":")
        if version != _VERSION:
            raise SecretUnreadable(f"unknown ciphertext version {version!r}")
        try:
            raw = base64.b64decode(data, validate=True)
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], associated.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SecretUnreadable("the secret does not decrypt with this region's key") from exc
