"""Proof of origin for change records on Kafka (invariant 9).

Every record a region publishes carries two Kafka headers: ``gt-kid``, the id of
the replication key that signed it, and ``gt-mac``, an HMAC-SHA256 over the
publishing region's name, the message key and the message value.  An applier
recomputes the MAC with the name of the region that owns the topic the record was
read from, so a record is accepted only if it was signed with a deployment key
*for that region's topic*: a record copied into another region's topic, or
rewritten in any byte, fails.  The applier then also requires the record's own
``origin`` to be that region (replicator/applier.py).

Keys are a keyring, the same in every region (``GLOBALTABLES_REPLICATION_KEYS``,
comma-separated; docs/security.md): the first signs, every one verifies, which is
what rotation without downtime needs (add the new key everywhere, then sign with
it everywhere, then drop the old one).  Without explicit keys the region's
``secret_key`` (already the same in every region) is the one key.  Each configured
text goes through HKDF with a purpose of its own, so the replication key is never
the key that encrypts stored secrets even when it is configured from the same
text.

What this does not stop (docs/security.md, threat model): a holder of the
deployment's keys (any region, or whoever reads a region's configuration) can sign
for every region, just as the shared admin key already lets it push rows through
the peer API.  A genuine record replayed into its own topic verifies; the
last-writer-wins check makes it a duplicate or a logged loss, never a change.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from regions.changes import ChangeRecord, InvalidRecord

__all__ = [
    "KID_HEADER",
    "MAC_HEADER",
    "MIN_KEY_LENGTH",
    "ReplicationKeys",
    "open_record",
    "parse_keys",
]

KID_HEADER = "gt-kid"
MAC_HEADER = "gt-mac"
#: shorter keys are refused: they could be guessed offline from one signed record
MIN_KEY_LENGTH = 16
_DOMAIN = b"globaltables change record v1\x00"

Headers = Sequence[tuple[str, bytes]]


def parse_keys(text: str) -> tuple[str, ...]:
    """``"new-key,old-key"`` -> the keyring, first the signing key."""
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    if not keys:
        raise ValueError("the replication keys are empty")
    for k in keys:
        if len(k) < MIN_KEY_LENGTH:
            raise ValueError(
                f"every replication key needs at least {MIN_KEY_LENGTH} characters "
                "(e.g. the output of `openssl rand -base64 32`)"
            )
    return keys


def _derive(configured: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"globaltables",
        info=b"globaltables replication records v1",
    ).derive(configured.encode())


def _kid(key: bytes) -> str:
    # an id that names the key without revealing anything useful about it
    return hashlib.sha256(b"globaltables key id\x00" + key).hexdigest()[:12]


@dataclass(frozen=True)
class ReplicationKeys:
    """The deployment's keyring: signs with the first key, verifies with any."""

    configured: tuple[str, ...] = field(repr=False)
    _keys: dict[str, bytes] = field(init=False, repr=False, compare=False)
    _signing: tuple[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.configured:
            raise ValueError("a replication keyring needs at least one key")
        derived = [_derive(c) for c in self.configured]
        object.__setattr__(self, "_keys", {_kid(k): k for k in derived})
        object.__setattr__(self, "_signing", (_kid(derived[0]), derived[0]))

    @property
    def signing_kid(self) -> str:
        return self._signing[0]

    @property
    def kids(self) -> tuple[str, ...]:
        """Ids of every key this region accepts, the signing key first."""
        return (self._signing[0], *(k for k in self._keys if k != self._signing[0]))

    @staticmethod
    def _message(origin: str, key: bytes | None, value: bytes) -> bytes:
        k = key or b""
        o = origin.encode()
        # lengths first, so no two (origin, key, value) triples share an encoding
        return _DOMAIN + struct.pack(">HI", len(o), len(k)) + o + k + value

    def sign(self, origin: str, key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
        """The Kafka headers of a record that region ``origin`` publishes."""
        kid, secret = self._signing
        mac = hmac.digest(secret, self._message(origin, key, value), "sha256")
        return [(KID_HEADER, kid.encode()), (MAC_HEADER, mac)]

    def verify(self, owner: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        """Raise :class:`InvalidRecord` unless the headers prove the record was
        signed for ``owner``'s topic with one of this keyring's keys."""
        kid: bytes | None = None
        mac: bytes | None = None
        for name, data in headers or ():
            if name == KID_HEADER:
                kid = data
            elif name == MAC_HEADER:
                mac = data
        if kid is None or mac is None:
            raise InvalidRecord("unsigned", "the record carries no gt-kid/gt-mac headers")
        secret = self._keys.get(kid.decode("ascii", "replace"))
        if secret is None:
            raise InvalidRecord(
                "unknown-key",
                f"signed with key {kid[:24]!r}, which this region does not hold "
                f"(it accepts {', '.join(self.kids)})",
            )
        expected = hmac.digest(secret, self._message(owner, key, value), "sha256")
        if not hmac.compare_digest(expected, mac):
            raise InvalidRecord(
                "bad-signature", f"the signature does not match a record of {owner}'s topic"
            )


def open_record(
    keys: ReplicationKeys, owner: str, key: bytes | None, value: bytes | None, headers: Headers
) -> ChangeRecord:
    """A message read from ``owner``'s topic, as a record this region may check
    against its tables: signed for that topic, well formed, and of ``owner``'s own
    origin.  Anything else raises :class:`InvalidRecord`."""
    if value is None:
        raise InvalidRecord("undecodable", "the message has no value")
    keys.verify(owner, key, value, headers)
    record = ChangeRecord.decode(value)
    if record.version.origin != owner:
        raise InvalidRecord(
            "wrong-origin",
            f"a record of origin {record.version.origin[:64]!r} on {owner}'s topic",
        )
    return record
