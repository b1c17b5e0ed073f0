"""DynamoDB resource-based policies: a table's or a stream's policy document, its
revision, and the rules of PutResourcePolicy, GetResourcePolicy and
DeleteResourcePolicy.  Evaluation is ``regions/policy.py``'s (the same statements,
conditions and variables as identity-based policies, plus the Principal) and
``api/authorization.py`` combines both kinds for every check.

Where it lives: in the table's :class:`~regions.catalog.TableSpec`
(``resource_policy`` for the table and its indexes, ``stream_policies`` by stream
label), so every process of the region reads it from the catalog cache with the
spec it already looks up.  It is **per replica**, as in DynamoDB, where a policy is
attached to one region's resource (its ARN names the region): PutResourcePolicy
changes this region's replica only, a new replica starts without one, and a peer's
spec never changes ours (``regions/control/replicas.py``).

DynamoDB's rules (API Reference: PutResourcePolicy, GetResourcePolicy,
DeleteResourcePolicy, CreateTable's ResourcePolicy; Developer Guide,
"Resource-based policy considerations"):

* a table or a stream ARN (an index is covered by its table's policy); at most
  20 KB of policy text, whitespace counted;
* Put of the same document is a no-op that returns the same RevisionId; another
  document gets a new, greater RevisionId (a millisecond timestamp, as DynamoDB's);
* ExpectedRevisionId: the current revision must be that one (``NO_POLICY``: there
  must be none), else PolicyNotFoundException;
* Delete without ExpectedRevisionId is idempotent; it answers the removed
  revision.

The messages are DynamoDB's as moto's AWS-verified tests record them
(getmoto/moto ``tests/test_dynamodb/test_dynamodb_resource_policy.py``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from regions import policy as pol
from regions.errors import DynamoError, ResourceNotFound, ValidationError

if TYPE_CHECKING:  # regions.catalog imports this module
    from regions.catalog import TableSpec

__all__ = [
    "MAX_POLICY_BYTES",
    "NO_POLICY",
    "PolicyNotFound",
    "ResourcePolicy",
    "Target",
    "compiled",
    "delete",
    "put",
    "target",
    "validate",
]

#: 20 KB, whitespace counted (PutResourcePolicy's Policy member)
MAX_POLICY_BYTES: Final = 20 * 1024
#: ExpectedRevisionId meaning "attach only if there is no policy yet"
NO_POLICY: Final = "NO_POLICY"
_INVALID: Final = "One or more parameter values were invalid: "


class PolicyNotFound(DynamoError):
    """The resource has no policy, or not the revision the request expected."""

    code = "PolicyNotFoundException"


@dataclass(frozen=True)
class ResourcePolicy:
    """A policy document as attached (its text, kept as sent) and its revision."""

    text: str
    revision_id: str

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.text, "revision_id": self.revision_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResourcePolicy:
        return cls(str(data["policy"]), str(data["revision_id"]))


# --------------------------------------------------------------------------- documents


def validate(text: str) -> pol.Policy:
    """A policy document as PutResourcePolicy accepts it, compiled; a malformed one
    is a ValidationException."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise ValidationError(
            _INVALID + f"Resource-based policy document exceeds the maximum size of "
            f"{MAX_POLICY_BYTES} bytes"
        )
    try:
        return _compile(text)
    except pol.PolicyError as exc:
        raise ValidationError(_INVALID + f"Invalid policy document: {exc.message}") from None


@functools.lru_cache(maxsize=256)
def _compile(text: str) -> pol.Policy:
    return pol.compile_policy(text, resource_based=True)


def compiled(policy: ResourcePolicy) -> pol.Policy | None:
    """The attached document, compiled once per text (a stored document that no
    longer validates grants nothing and denies nothing)."""
    try:
        return _compile(policy.text)
    except pol.PolicyError:
        return None


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """What a ResourceArn names: a table of this region, or one of its streams."""

    arn: str
    table: str
    #: the stream label, for a stream ARN
    stream: str | None = None


def target(arn: str, region: str, account_id: str) -> Target:
    """Parse a ResourceArn (the wording of DynamoDB's answers, as observed).  Raises
    ValidationException for anything but a table or stream ARN of this region and
    account."""
    if not arn.startswith("arn:"):
        raise ValidationError(_INVALID + f"ARNs must start with 'arn:': {arn}")
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "dynamodb" or not parts[5].startswith("table/"):
        raise ValidationError(_INVALID + f"Provided Arn is not a DynamoDB resource arn: {arn}")
    if parts[4] != account_id:
        raise ValidationError(
            "This action is only supported by accounts that match the resource owner's account."
        )
    if parts[1] != "aws" or parts[3] != region:
        raise ValidationError(_INVALID + f"Invalid resource Arn: {arn}")
    rest = parts[5].removeprefix("table/").split("/")
    if len(rest) == 1 and rest[0]:
        return Target(arn, rest[0])
    if len(rest) == 3 and rest[0] and rest[1] == "stream" and rest[2]:
        return Target(arn, rest[0], rest[2])
    if len(rest) == 3 and rest[1] == "index":
        raise ValidationError(
            _INVALID + "Invalid resource arn provided, only table or stream is accepted. "
            f"Provided resource arn: {arn}"
        )
    raise ValidationError(_INVALID + f"Provided Arn is not a DynamoDB resource arn: {arn}")


def current(spec: TableSpec, where: Target) -> ResourcePolicy | None:
    """The policy attached to the target (ResourceNotFound for an unknown stream)."""
    if where.stream is None:
        return spec.resource_policy
    if not any(s.label == where.stream for s in spec.streams):
        raise ResourceNotFound(
            f"Requested resource not found: Stream: {where.stream} not found for Table: {spec.name}"
        )
    return spec.stream_policies.get(where.stream)


def _owner(spec: TableSpec, where: Target) -> str:
    return f"table {spec.name}" if where.stream is None else f"stream {where.stream}"


def _expect(
    spec: TableSpec, where: Target, have: ResourcePolicy | None, expected: str | None
) -> None:
    if expected is None:
        return
    if have is None:
        if expected != NO_POLICY:
            raise PolicyNotFound(
                f"Resource-based policy not found for the provided ResourceArn: {where.arn}"
            )
        return
    if expected == NO_POLICY:
        raise PolicyNotFound(
            "Resource-based policy not found for the provided ResourceArn: Requested policy "
            f"update expecting none to be present for {_owner(spec, where)}, but a policy "
            f"exists with revision id {have.revision_id}."
        )
    if expected != have.revision_id:
        raise PolicyNotFound(
            "Resource-based policy not found for the provided ResourceArn: Requested update "
            f"for policy with revision id {expected}, but the policy associated to target "
            f"{_owner(spec, where)} has revision id {have.revision_id}."
        )


def new_revision(previous: ResourcePolicy | None, now_ms: int | None = None) -> str:
    """A millisecond timestamp, greater than the previous revision's."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if previous is not None and previous.revision_id.isdigit():
        now = max(now, int(previous.revision_id) + 1)
    return str(now)


def _attached(spec: TableSpec, where: Target, new: ResourcePolicy | None) -> TableSpec:
    if where.stream is None:
        return replace(spec, resource_policy=new)
    streams = dict(spec.stream_policies)
    if new is None:
        streams.pop(where.stream, None)
    else:
        streams[where.stream] = new
    return replace(spec, stream_policies=streams)


def put(
    spec: TableSpec, where: Target, text: str, expected: str | None, now_ms: int | None = None
) -> tuple[TableSpec, ResourcePolicy]:
    """PutResourcePolicy as a pure spec change: (the new spec, the policy attached).
    The document must already be :func:`validate`-d."""
    have = current(spec, where)
    _expect(spec, where, have, expected)
    if have is not None and have.text == text:
        return spec, have
    new = ResourcePolicy(text, new_revision(have, now_ms))
    return _attached(spec, where, new), new


def delete(
    spec: TableSpec, where: Target, expected: str | None
) -> tuple[TableSpec, ResourcePolicy | None]:
    """DeleteResourcePolicy as a pure spec change: (the new spec, the policy removed,
    None if there was none)."""
    have = current(spec, where)
    _expect(spec, where, have, expected)
    if have is None:
        return spec, None
    return _attached(spec, where, None), have
