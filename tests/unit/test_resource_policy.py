"""Resource-based policies: their validation (regions/policy.py with a Principal),
their rules (regions/resource_policy.py: revisions, ExpectedRevisionId, ARNs) and
their evaluation together with identity policies (api/authorization.py enforce)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from api import authorization as authz
from api.authorization import Check
from regions import policy as pol
from regions import principals
from regions import resource_policy as rp
from regions.catalog import TableSpec
from regions.errors import AccessDenied, ResourceNotFound, ValidationError
from regions.keys import KeyAttr, KeySchema
from regions.policy import Decision, PolicyError
from regions.streams import StreamSpec

ACCT = "000000000000"
REGION = "us-east-1"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCT}:table/T"
INDEX = f"{TABLE}/index/by-g"
LABEL = "2024-01-01T00:00:00.000"
STREAM = f"{TABLE}/stream/{LABEL}"
BOB = f"arn:aws:iam::{ACCT}:user/bob"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def st(
    effect: str, principal: Any, action: Any = "dynamodb:*", resource: Any = "*", **extra: Any
) -> dict[str, Any]:
    return {
        "Effect": effect,
        "Principal": principal,
        "Action": action,
        "Resource": resource,
        **extra,
    }


def variables(name: str) -> dict[str, str]:
    return pol.principal_variables(name, ACCT, f"arn:aws:iam::{ACCT}:user/{name}")


def decide(
    text: str,
    user: str = "bob",
    action: str = "dynamodb:GetItem",
    resource: str = TABLE,
    **ctx: list[str],
) -> Decision:
    context = {k.replace("__", ":"): v for k, v in ctx.items()}
    return pol.evaluate(
        [pol.compile_policy(text, resource_based=True)],
        pol.Request(action, resource, context),
        variables(user),
    )


# --------------------------------------------------------------------------- validation


def test_every_statement_of_a_resource_policy_names_its_principal() -> None:
    with pytest.raises(PolicyError, match="exactly one of Principal and NotPrincipal"):
        pol.compile_policy(
            doc({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}), resource_based=True
        )
    # an identity-based policy still may not name one
    with pytest.raises(PolicyError, match="cannot name a Principal"):
        pol.compile_policy(doc(st("Allow", "*")))


@pytest.mark.parametrize(
    ("principal", "message"),
    [
        ({"AWS": "arn:aws:iam::000000000000:user/*"}, "cannot contain wildcards"),
        ({"AWS": "bob"}, "not a valid principal"),
        ({"AWS": "arn:aws:s3:::bucket"}, "not a valid principal"),
        ({"CanonicalUser": "x"}, "not supported"),
        ("somebody", "must be"),
        ({}, "must be"),
    ],
)
def test_malformed_principals_are_refused(principal: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        pol.compile_policy(doc(st("Allow", principal)), resource_based=True)


def test_not_principal_only_with_deny() -> None:
    with pytest.raises(PolicyError, match="Effect Deny only"):
        pol.compile_policy(
            doc(
                {
                    "Effect": "Allow",
                    "NotPrincipal": {"AWS": BOB},
                    "Action": "dynamodb:*",
                    "Resource": "*",
                }
            ),
            resource_based=True,
        )


def test_validate_words_errors_as_dynamodb_validation_exceptions() -> None:
    with pytest.raises(ValidationError) as exc:
        rp.validate("{not json")
    assert exc.value.code == "ValidationException"
    assert exc.value.message.startswith(
        "One or more parameter values were invalid: Invalid policy document: "
    )
    with pytest.raises(ValidationError, match="maximum size"):
        rp.validate(doc(st("Allow", "*", resource=["*"] * 5000)))


# --------------------------------------------------------------------------- principals


def test_a_statement_applies_to_the_principals_it_names() -> None:
    only_bob = doc(st("Deny", {"AWS": [BOB]}))
    assert decide(only_bob, "bob") is Decision.EXPLICIT_DENY
    assert decide(only_bob, "alice") is Decision.IMPLICIT_DENY
    everyone = doc(st("Allow", "*"))
    assert decide(everyone, "alice") is Decision.ALLOW
    assert decide(doc(st("Allow", {"AWS": "*"})), "alice") is Decision.ALLOW


def test_an_account_principal_denies_everyone_in_it_but_grants_nobody_directly() -> None:
    for account in (ACCT, f"arn:aws:iam::{ACCT}:root"):
        assert decide(doc(st("Deny", {"AWS": account}))) is Decision.EXPLICIT_DENY
        # an Allow to the account delegates to its identity policies
        assert decide(doc(st("Allow", {"AWS": account}))) is Decision.IMPLICIT_DENY
    assert decide(doc(st("Deny", {"AWS": "111122223333"}))) is Decision.IMPLICIT_DENY


def test_not_principal_denies_everyone_else() -> None:
    text = doc(
        {"Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "dynamodb:*", "Resource": "*"}
    )
    assert decide(text, "bob") is Decision.EXPLICIT_DENY
    assert decide(text, "alice") is Decision.IMPLICIT_DENY


def test_service_principals_match_no_user() -> None:
    assert (
        decide(doc(st("Deny", {"Service": "replication.dynamodb.amazonaws.com"})))
        is Decision.IMPLICIT_DENY
    )


def test_conditions_and_variables_work_as_in_identity_policies() -> None:
    text = doc(
        st(
            "Allow",
            "*",
            resource=TABLE,
            Condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}},
        )
    )
    assert decide(text, "bob", dynamodb__LeadingKeys=["bob"]) is Decision.ALLOW
    assert decide(text, "bob", dynamodb__LeadingKeys=["alice"]) is Decision.IMPLICIT_DENY
    # the Resource must match: a table's policy covers an index only if it names it
    assert (
        decide(text, "bob", resource=INDEX, dynamodb__LeadingKeys=["bob"]) is Decision.IMPLICIT_DENY
    )


# --------------------------------------------------------------------------- rules


def _spec(**changes: Any) -> TableSpec:
    spec = TableSpec("T", "id", KeySchema(KeyAttr("pk", "S")), {"pk": "S"}, 0.0)
    return replace(spec, **changes)


def test_targets() -> None:
    assert rp.target(TABLE, REGION, ACCT) == rp.Target(TABLE, "T")
    assert rp.target(STREAM, REGION, ACCT) == rp.Target(STREAM, "T", LABEL)
    cases = {
        "T": "ARNs must start with 'arn:'",
        INDEX: "only table or stream is accepted",
        TABLE.replace(REGION, "eu-west-1"): "Invalid resource Arn",
        TABLE.replace(ACCT, "111122223333"): "only supported by accounts that match",
        f"{TABLE}/backup/01": "not a DynamoDB resource arn",
        "arn:aws:s3:::bucket": "not a DynamoDB resource arn",
    }
    for arn, message in cases.items():
        with pytest.raises(ValidationError, match=message):
            rp.target(arn, REGION, ACCT)


def test_put_get_delete_and_revisions() -> None:
    where = rp.Target(TABLE, "T")
    first = doc(st("Allow", "*"))
    spec, p1 = rp.put(_spec(), where, first, None, now_ms=1000)
    assert p1 == rp.ResourcePolicy(first, "1000")
    assert rp.current(spec, where) == p1
    # the same document again: a no-op, the same revision
    same, again = rp.put(spec, where, first, None, now_ms=5000)
    assert same is spec and again == p1
    # another document: a greater revision, even with a clock that went back
    second = doc(st("Deny", "*"))
    spec2, p2 = rp.put(spec, where, second, "1000", now_ms=10)
    assert p2.revision_id == "1001"
    with pytest.raises(rp.PolicyNotFound) as exc:
        rp.put(spec2, where, first, "1000")
    assert exc.value.code == "PolicyNotFoundException"
    assert exc.value.message == (
        "Resource-based policy not found for the provided ResourceArn: Requested update for "
        "policy with revision id 1000, but the policy associated to target table T has "
        "revision id 1001."
    )
    with pytest.raises(rp.PolicyNotFound, match="expecting none to be present for table T"):
        rp.put(spec2, where, first, rp.NO_POLICY)
    # NO_POLICY on a table without one attaches it
    _, p3 = rp.put(_spec(), where, first, rp.NO_POLICY, now_ms=7)
    assert p3.revision_id == "7"
    with pytest.raises(rp.PolicyNotFound, match=f"ResourceArn: {TABLE}$"):
        rp.put(_spec(), where, first, "123")
    # delete: with the wrong revision refused, then removed, then idempotent
    with pytest.raises(rp.PolicyNotFound, match="revision id 1000, but"):
        rp.delete(spec2, where, "1000")
    gone, removed = rp.delete(spec2, where, "1001")
    assert removed == p2 and rp.current(gone, where) is None
    assert rp.delete(gone, where, None) == (gone, None)
    with pytest.raises(rp.PolicyNotFound):
        rp.delete(gone, where, "1001")


def test_a_stream_has_its_own_policy_and_must_exist() -> None:
    where = rp.Target(STREAM, "T", LABEL)
    with pytest.raises(ResourceNotFound, match=f"Stream: {LABEL} not found for Table: T"):
        rp.put(_spec(), where, doc(st("Allow", "*")), None)
    spec = _spec(streams=(StreamSpec(LABEL, "KEYS_ONLY", 1),))
    spec, p = rp.put(spec, where, doc(st("Allow", "*")), None, now_ms=3)
    assert spec.stream_policies == {LABEL: p}
    assert spec.resource_policy is None


def test_the_policies_survive_the_spec_json() -> None:
    spec = _spec(
        streams=(StreamSpec(LABEL, "KEYS_ONLY", 1),),
        resource_policy=rp.ResourcePolicy("{}", "1"),
        stream_policies={LABEL: rp.ResourcePolicy("[]", "2")},
    )
    assert TableSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    # and a spec without one stores nothing for it (older regions read it unchanged)
    assert "resource_policy" not in _spec().to_json()


# --------------------------------------------------------------------------- with identity policies


class Catalog:
    def __init__(self, specs: dict[str, TableSpec]) -> None:
        self.tables = {name: (i, spec) for i, (name, spec) in enumerate(specs.items())}


class FakeRegion:
    """What enforce reads of a region: its ARNs and its catalog cache."""

    class settings:
        account_id = ACCT

    def __init__(self, spec: TableSpec) -> None:
        self.catalog = Catalog({spec.name: spec})

    @property
    def control(self) -> FakeRegion:
        return self

    def arn(self, table: str) -> str:
        return f"arn:aws:dynamodb:{REGION}:{ACCT}:table/{table}"


def user(name: str, *docs: dict[str, Any]) -> principals.Principal:
    return principals.Principal(name, "AK" + name, tuple(docs), ACCT)


ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
}


def region_with(text: str | None, stream_text: str | None = None) -> Any:
    spec = _spec(
        streams=(StreamSpec(LABEL, "KEYS_ONLY", 1),),
        resource_policy=None if text is None else rp.ResourcePolicy(text, "1"),
        stream_policies={} if stream_text is None else {LABEL: rp.ResourcePolicy(stream_text, "2")},
    )
    return FakeRegion(spec)


def test_a_resource_deny_wins_over_an_identity_allow() -> None:
    region = region_with(doc(st("Deny", {"AWS": BOB}, resource=[TABLE, f"{TABLE}/index/*"])))
    with pytest.raises(AccessDenied) as exc:
        authz.enforce(user("bob", ALL), [Check("GetItem", TABLE)], region)
    assert exc.value.message == (
        f"User: {BOB} is not authorized to perform: dynamodb:GetItem on resource: {TABLE} "
        "with an explicit deny in a resource-based policy"
    )
    # the table's policy governs its indexes
    with pytest.raises(AccessDenied):
        authz.enforce(user("bob", ALL), [Check("Query", INDEX)], region)
    # another user, and another table, are not concerned
    authz.enforce(user("alice", ALL), [Check("GetItem", TABLE)], region)
    authz.enforce(user("bob", ALL), [Check("GetItem", TABLE + "2")], region)
    # without the region (or for another region's ARN), no resource policy is read
    authz.enforce(user("bob", ALL), [Check("GetItem", TABLE)])
    authz.enforce(user("bob", ALL), [Check("GetItem", TABLE.replace(REGION, "eu-west-1"))], region)


def test_one_denied_item_of_a_batch_denies_the_batch() -> None:
    region = region_with(doc(st("Deny", "*", resource=TABLE)))
    with pytest.raises(AccessDenied, match="resource-based"):
        authz.enforce(
            user("bob", ALL),
            [Check("PutItem", TABLE + "2"), Check("PutItem", TABLE)],
            region,
        )


def test_a_resource_allow_grants_without_an_identity_policy() -> None:
    region = region_with(doc(st("Allow", {"AWS": [BOB]}, "dynamodb:GetItem", TABLE)))
    authz.enforce(user("bob"), [Check("GetItem", TABLE)], region)
    with pytest.raises(AccessDenied, match="because no identity-based policy allows"):
        authz.enforce(user("bob"), [Check("PutItem", TABLE)], region)
    with pytest.raises(AccessDenied):
        authz.enforce(user("alice"), [Check("GetItem", TABLE)], region)


def test_an_identity_deny_wins_over_a_resource_allow() -> None:
    region = region_with(doc(st("Allow", "*")))
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": "*"}],
    }
    with pytest.raises(AccessDenied, match="explicit deny in an identity-based policy"):
        authz.enforce(user("bob", deny), [Check("GetItem", TABLE)], region)


def test_resource_policy_conditions_see_the_request_keys() -> None:
    text = doc(
        st(
            "Deny",
            "*",
            resource=TABLE,
            Condition={
                "ForAnyValue:StringNotEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}
            },
        )
    )
    region = region_with(text)
    authz.enforce(
        user("bob", ALL), [Check("GetItem", TABLE, {"dynamodb:LeadingKeys": ["bob"]})], region
    )
    with pytest.raises(AccessDenied):
        authz.enforce(
            user("bob", ALL), [Check("GetItem", TABLE, {"dynamodb:LeadingKeys": ["alice"]})], region
        )


def test_a_stream_is_governed_by_its_own_policy_only() -> None:
    region = region_with(
        doc(st("Deny", "*")), stream_text=doc(st("Allow", {"AWS": BOB}, resource=STREAM))
    )
    # bob has no identity policy: the stream's policy alone lets him read it
    authz.enforce(user("bob"), [Check("GetRecords", STREAM)], region)
    # the table's Deny does not reach the stream
    authz.enforce(user("alice", ALL), [Check("GetRecords", STREAM)], region)
    with pytest.raises(AccessDenied):
        authz.enforce(user("alice", ALL), [Check("GetItem", TABLE)], region)


def test_admins_are_not_restricted_by_resource_policies() -> None:
    region = region_with(doc(st("Deny", "*")))
    authz.enforce(principals.Principal("admin", "AK", None), [Check("GetItem", TABLE)], region)


def test_a_stored_document_that_no_longer_validates_decides_nothing() -> None:
    region = region_with("{broken")
    authz.enforce(user("bob", ALL), [Check("GetItem", TABLE)], region)
    with pytest.raises(AccessDenied):
        authz.enforce(user("bob"), [Check("GetItem", TABLE)], region)
