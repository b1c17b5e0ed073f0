"""regions/policy.py: IAM policy validation and evaluation.

Cases follow IAM's documented logic (explicit deny > allow > implicit deny; condition
operators, set qualifiers, IfExists and policy variables as the IAM User Guide
describes them) and the DynamoDB fine-grained access control examples.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from regions import policy as pol
from regions.policy import Decision, PolicyError

ACCT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCT}:table/Music"
OTHER = f"arn:aws:dynamodb:us-east-1:{ACCT}:table/Musical"
INDEX = f"{TABLE}/index/ByGenre"
STREAM = f"{TABLE}/stream/2024-01-01T00:00:00.000"
BOB = pol.principal_variables("bob", ACCT, f"arn:aws:iam::{ACCT}:user/bob")


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def allow(action: Any = "dynamodb:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "dynamodb:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(
    docs: list[dict[str, Any]] | dict[str, Any],
    action: str = "dynamodb:GetItem",
    resource: str = TABLE,
    variables: dict[str, str] | None = None,
    **context: list[str],
) -> Decision:
    documents = docs if isinstance(docs, list) else [docs]
    ctx = {k.replace("__", ":"): v for k, v in context.items()}
    return pol.evaluate(
        [pol.compile_policy(d) for d in documents],
        pol.Request(action, resource, ctx),
        BOB if variables is None else variables,
    )


# --------------------------------------------------------------------------- validation


def test_a_valid_document_is_returned_as_a_dict() -> None:
    d = doc(allow("dynamodb:GetItem", TABLE))
    assert pol.validate_policy(d) == d
    assert pol.validate_policy(json.dumps(d)) == d


def test_a_single_statement_object_and_string_elements_are_accepted() -> None:
    d = {"Version": "2012-10-17", "Statement": allow("dynamodb:GetItem", TABLE)}
    assert decide(d) is Decision.ALLOW


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("not json", "not valid JSON"),
        ([], "must be a JSON object"),
        ({"Version": "2012-10-17"}, "no Statement"),
        (doc(), "must not be empty"),
        ({"Version": "2020-01-01", "Statement": [allow()]}, "Version"),
        ({"Statement": [allow()], "Extra": 1}, "unknown element"),
        (doc({"Effect": "allow", "Action": "*", "Resource": "*"}), "Effect"),
        (doc({"Effect": "Allow", "Resource": "*"}), "exactly one of Action and NotAction"),
        (
            doc({"Effect": "Allow", "Action": "*", "NotAction": "x:y", "Resource": "*"}),
            "exactly one of Action and NotAction",
        ),
        (doc({"Effect": "Allow", "Action": "*"}), "exactly one of Resource and NotResource"),
        (doc(allow(Principal="*")), "Principal"),
        (doc(allow(Foo=1)), "unknown element"),
        (doc(allow(action=[])), "non-empty list"),
        (doc(allow(action="GetItem")), "not an action"),
        (doc(allow(resource="arn:aws:dynamodb:*")), "must be * or an ARN"),
        (doc(allow(resource="table/Music")), "must be * or an ARN"),
        (doc(allow(Condition={"StringEqualz": {"a": "b"}})), "not supported"),
        (doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "x"}})), "not supported"),
        (doc(allow(Condition={"SomeValues:StringEquals": {"a": "b"}})), "unknown qualifier"),
        (doc(allow(Condition={"StringEquals": {}})), "non-empty object"),
        (doc(allow(Condition={"StringEquals": {"a": []}})), "empty list"),
        (doc(allow(Condition={"StringEquals": {"a": {"b": 1}}})), "strings, booleans or numbers"),
        (doc(allow(Condition={"Null": {"a": "maybe"}})), "true or false"),
        (doc(allow(Condition={"NullIfExists": {"a": "true"}})), "NullIfExists"),
        (doc(allow(Sid="has space")), "Sid"),
    ],
)
def test_invalid_documents_are_refused(document: Any, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        pol.validate_policy(document)
    assert fragment in info.value.message
    # a ValidationError, so an API that stores policies answers 400
    assert info.value.code == "MalformedPolicyDocument"


# --------------------------------------------------------------------------- decisions


def test_no_policy_denies_implicitly() -> None:
    assert decide([]) is Decision.IMPLICIT_DENY
    assert decide(doc(allow("dynamodb:PutItem"))) is Decision.IMPLICIT_DENY


def test_explicit_deny_wins_in_either_order_and_across_documents() -> None:
    a, d = allow("dynamodb:*"), deny("dynamodb:GetItem", TABLE)
    assert decide(doc(a, d)) is Decision.EXPLICIT_DENY
    assert decide(doc(d, a)) is Decision.EXPLICIT_DENY
    assert decide([doc(a), doc(d)]) is Decision.EXPLICIT_DENY
    # the deny is for GetItem only
    assert decide(doc(a, d), action="dynamodb:Query") is Decision.ALLOW


def test_a_deny_whose_condition_fails_does_not_apply() -> None:
    d = deny(Condition={"StringEquals": {"dynamodb:Select": "COUNT"}})
    assert decide(doc(allow(), d), dynamodb__Select=["ALL_ATTRIBUTES"]) is Decision.ALLOW
    assert decide(doc(allow(), d), dynamodb__Select=["COUNT"]) is Decision.EXPLICIT_DENY


@pytest.mark.parametrize(
    ("pattern", "action", "hit"),
    [
        ("dynamodb:GetItem", "dynamodb:GetItem", True),
        ("DynamoDB:getitem", "dynamodb:GetItem", True),  # action names ignore case
        ("dynamodb:Get*", "dynamodb:GetItem", True),
        ("dynamodb:Get*", "dynamodb:GetRecords", True),
        ("dynamodb:Get*", "dynamodb:BatchGetItem", False),
        ("dynamodb:*Item", "dynamodb:BatchGetItem", True),
        ("dynamodb:?etItem", "dynamodb:GetItem", True),
        ("dynamodb:?etItem", "dynamodb:PutItem", False),
        ("dynamodb:??Item", "dynamodb:GetItem", False),
        ("*", "dynamodb:Scan", True),
        ("s3:*", "dynamodb:Scan", False),
    ],
)
def test_action_patterns(pattern: str, action: str, hit: bool) -> None:
    expected = Decision.ALLOW if hit else Decision.IMPLICIT_DENY
    assert decide(doc(allow(pattern)), action=action) is expected


def test_not_action_allows_everything_else() -> None:
    d = doc({"Effect": "Allow", "NotAction": ["dynamodb:Delete*"], "Resource": "*"})
    assert decide(d, action="dynamodb:GetItem") is Decision.ALLOW
    assert decide(d, action="dynamodb:DeleteItem") is Decision.IMPLICIT_DENY
    assert decide(d, action="dynamodb:deletetable") is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("pattern", "resource", "hit"),
    [
        (TABLE, TABLE, True),
        (TABLE, OTHER, False),  # no prefix match without a wildcard
        (TABLE, INDEX, False),  # an index needs its own grant
        (f"{TABLE}/index/*", INDEX, True),
        (f"{TABLE}*", INDEX, True),  # * spans '/' inside the resource part
        (f"{TABLE}*", OTHER, True),
        (f"{TABLE}/stream/*", STREAM, True),
        ("arn:aws:dynamodb:*:*:table/Music", TABLE, True),
        ("arn:aws:dynamodb:*:*:table/Music", INDEX, False),
        ("arn:aws:dynamodb:eu-west-1:*:table/Music", TABLE, False),
        (f"arn:aws:dynamodb:us-east-?:{ACCT}:table/Music", TABLE, True),
        ("arn:aws:dynamodb:*:*:table/music", TABLE, False),  # resources are case-sensitive
        ("arn:aws:dynamodb:*:*:*", TABLE, True),
        # a wildcard in one component does not swallow the next ones
        ("arn:aws:dynamodb:*:table/Music", TABLE, False),
        ("*", "*", True),
        (TABLE, "*", False),
    ],
)
def test_resource_patterns(pattern: str, resource: str, hit: bool) -> None:
    expected = Decision.ALLOW if hit else Decision.IMPLICIT_DENY
    # a policy ARN with five components only is refused at upload; compile it raw here
    policy = pol.Policy(
        (pol._statement(allow(resource=pattern), "s") if pattern.count(":") >= 5 or pattern == "*"
         else pol._Statement(True, ("dynamodb:*",), False, (pattern,), False, ()),),
        variables=True,
    )  # fmt: skip
    got = pol.evaluate([policy], pol.Request("dynamodb:GetItem", resource, {}), BOB)
    assert got is expected


def test_not_resource() -> None:
    d = doc({"Effect": "Allow", "Action": "dynamodb:*", "NotResource": f"{TABLE}*"})
    assert decide(d, resource=TABLE) is Decision.IMPLICIT_DENY
    assert decide(d, resource=f"arn:aws:dynamodb:us-east-1:{ACCT}:table/Other") is Decision.ALLOW


# --------------------------------------------------------------------------- conditions

LEADING_ONLY_BOB = allow(Condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["bob"]}})


def test_for_all_values_leading_keys() -> None:
    d = doc(LEADING_ONLY_BOB)
    assert decide(d, dynamodb__LeadingKeys=["bob"]) is Decision.ALLOW
    assert decide(d, dynamodb__LeadingKeys=["bob", "bob"]) is Decision.ALLOW
    assert decide(d, dynamodb__LeadingKeys=["bob", "alice"]) is Decision.IMPLICIT_DENY
    assert decide(d, dynamodb__LeadingKeys=["alice"]) is Decision.IMPLICIT_DENY
    # a request without the key (a Scan) satisfies ForAllValues vacuously, as in IAM
    assert decide(d) is Decision.ALLOW
    assert decide(d, dynamodb__LeadingKeys=[]) is Decision.ALLOW


def test_for_any_value_needs_the_key() -> None:
    d = doc(allow(Condition={"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["a", "b"]}}))
    assert decide(d, dynamodb__Attributes=["x", "b"]) is Decision.ALLOW
    assert decide(d, dynamodb__Attributes=["x", "y"]) is Decision.IMPLICIT_DENY
    assert decide(d) is Decision.IMPLICIT_DENY


def test_for_all_values_string_not_equals_hides_attributes() -> None:
    d = doc(
        allow(
            Condition={"ForAllValues:StringNotEquals": {"dynamodb:Attributes": ["salary", "ssn"]}}
        )
    )
    assert decide(d, dynamodb__Attributes=["id", "name"]) is Decision.ALLOW
    assert decide(d, dynamodb__Attributes=["id", "salary"]) is Decision.IMPLICIT_DENY


def test_for_any_value_string_not_equals() -> None:
    d = doc(allow(Condition={"ForAnyValue:StringNotEquals": {"dynamodb:Attributes": ["id"]}}))
    assert decide(d, dynamodb__Attributes=["id", "x"]) is Decision.ALLOW
    assert decide(d, dynamodb__Attributes=["id"]) is Decision.IMPLICIT_DENY


def test_if_exists_passes_a_missing_key_only() -> None:
    d = doc(allow(Condition={"StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}}))
    assert decide(d) is Decision.ALLOW
    assert decide(d, dynamodb__Select=["SPECIFIC_ATTRIBUTES"]) is Decision.ALLOW
    assert decide(d, dynamodb__Select=["ALL_ATTRIBUTES"]) is Decision.IMPLICIT_DENY
    plain = doc(allow(Condition={"StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}}))
    assert decide(plain) is Decision.IMPLICIT_DENY


def test_negated_operators_hold_for_a_missing_key() -> None:
    d = doc(allow(Condition={"StringNotEquals": {"dynamodb:ReturnValues": ["ALL_OLD", "ALL_NEW"]}}))
    assert decide(d) is Decision.ALLOW
    assert decide(d, dynamodb__ReturnValues=["NONE"]) is Decision.ALLOW
    assert decide(d, dynamodb__ReturnValues=["ALL_NEW"]) is Decision.IMPLICIT_DENY


def test_values_are_alternatives_and_keys_and_blocks_all_must_hold() -> None:
    cond = {
        "ForAllValues:StringEquals": {
            "dynamodb:LeadingKeys": ["bob", "carol"],
            "dynamodb:Attributes": ["id", "score"],
        },
        "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
    }
    d = doc(allow(Condition=cond))
    ok = {"dynamodb__LeadingKeys": ["carol"], "dynamodb__Attributes": ["score"]}
    assert decide(d, **ok) is Decision.ALLOW
    assert decide(d, **ok, dynamodb__Select=["COUNT"]) is Decision.IMPLICIT_DENY
    assert (
        decide(d, **{**ok, "dynamodb__Attributes": ["score", "secret"]}) is Decision.IMPLICIT_DENY
    )
    assert decide(d, **{**ok, "dynamodb__LeadingKeys": ["dave"]}) is Decision.IMPLICIT_DENY


def test_condition_key_names_ignore_case_values_do_not() -> None:
    d = doc(allow(Condition={"StringEquals": {"DYNAMODB:select": "COUNT"}}))
    assert decide(d, dynamodb__Select=["COUNT"]) is Decision.ALLOW
    assert decide(d, dynamodb__Select=["count"]) is Decision.IMPLICIT_DENY
    ic = doc(allow(Condition={"StringEqualsIgnoreCase": {"dynamodb:Select": "COUNT"}}))
    assert decide(ic, dynamodb__Select=["count"]) is Decision.ALLOW


def test_string_like() -> None:
    d = doc(
        allow(Condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["user-*", "g?"]}})
    )
    assert decide(d, dynamodb__LeadingKeys=["user-1", "g1"]) is Decision.ALLOW
    assert decide(d, dynamodb__LeadingKeys=["g12"]) is Decision.IMPLICIT_DENY
    assert decide(d, dynamodb__LeadingKeys=["USER-1"]) is Decision.IMPLICIT_DENY
    nl = doc(allow(Condition={"StringNotLike": {"dynamodb:EnclosingOperation": "Transact*"}}))
    assert decide(nl) is Decision.ALLOW
    assert decide(nl, dynamodb__EnclosingOperation=["TransactWriteItems"]) is Decision.IMPLICIT_DENY


def test_null_bool_and_numeric() -> None:
    absent = doc(allow(Condition={"Null": {"dynamodb:LeadingKeys": "true"}}))
    assert decide(absent) is Decision.ALLOW
    assert decide(absent, dynamodb__LeadingKeys=["x"]) is Decision.IMPLICIT_DENY
    present = doc(allow(Condition={"Null": {"dynamodb:LeadingKeys": False}}))
    assert decide(present, dynamodb__LeadingKeys=["x"]) is Decision.ALLOW
    assert decide(present) is Decision.IMPLICIT_DENY
    boolean = doc(allow(Condition={"Bool": {"x:flag": True}}))
    assert decide(boolean, x__flag=["true"]) is Decision.ALLOW
    assert decide(boolean, x__flag=["false"]) is Decision.IMPLICIT_DENY
    numeric = doc(allow(Condition={"NumericLessThan": {"x:n": 10}}))
    assert decide(numeric, x__n=["9.5"]) is Decision.ALLOW
    assert decide(numeric, x__n=["10"]) is Decision.IMPLICIT_DENY
    assert decide(numeric, x__n=["ten"]) is Decision.IMPLICIT_DENY


def test_arn_operators_compare_component_by_component() -> None:
    d = doc(allow(Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/b*"}}))
    assert decide(d) is Decision.ALLOW
    other = pol.principal_variables("carol", ACCT, f"arn:aws:iam::{ACCT}:user/carol")
    assert decide(d, variables=other) is Decision.IMPLICIT_DENY


# --------------------------------------------------------------------------- variables


def test_username_variable_scopes_leading_keys_to_the_caller() -> None:
    d = doc(
        allow(
            Condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}
        )
    )
    assert decide(d, dynamodb__LeadingKeys=["bob"]) is Decision.ALLOW
    assert decide(d, dynamodb__LeadingKeys=["alice"]) is Decision.IMPLICIT_DENY


def test_variables_in_resources_and_their_escapes_and_defaults() -> None:
    d = doc(allow(resource="arn:aws:dynamodb:*:*:table/${aws:username}-*"))
    assert decide(d, resource=f"arn:aws:dynamodb:us-east-1:{ACCT}:table/bob-data") is Decision.ALLOW
    assert (
        decide(d, resource=f"arn:aws:dynamodb:us-east-1:{ACCT}:table/eve-data")
        is Decision.IMPLICIT_DENY
    )
    # a variable's own colon does not split the ARN's components
    mine = doc(allow(resource="arn:aws:dynamodb:*:${aws:PrincipalAccount}:table/Music"))
    assert decide(mine) is Decision.ALLOW
    assert decide(mine, resource="arn:aws:dynamodb:us-east-1:999999999999:table/Music") is (
        Decision.IMPLICIT_DENY
    )
    # ${*} is a literal star, not a wildcard
    star = doc(allow(Condition={"StringLike": {"dynamodb:LeadingKeys": "a${*}"}}))
    assert decide(star, dynamodb__LeadingKeys=["a*"]) is Decision.ALLOW
    assert decide(star, dynamodb__LeadingKeys=["ab"]) is Decision.IMPLICIT_DENY
    default = doc(
        allow(Condition={"StringEquals": {"dynamodb:LeadingKeys": "${aws:nothing, 'none'}"}})
    )
    assert decide(default, dynamodb__LeadingKeys=["none"]) is Decision.ALLOW
    # an unknown variable without a default matches nothing
    unknown = doc(allow(Condition={"StringEquals": {"dynamodb:LeadingKeys": "${aws:nothing}"}}))
    assert decide(unknown, dynamodb__LeadingKeys=["${aws:nothing}"]) is Decision.IMPLICIT_DENY


def test_variables_are_literal_text_in_2008_documents() -> None:
    cond = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}
    d = doc(allow(Condition=cond), version="2008-10-17")
    assert decide(d, dynamodb__LeadingKeys=["bob"]) is Decision.IMPLICIT_DENY
    assert decide(d, dynamodb__LeadingKeys=["${aws:username}"]) is Decision.ALLOW


def test_global_keys_of_the_principal() -> None:
    d = doc(allow(Condition={"StringEquals": {"aws:username": "bob"}}))
    assert decide(d) is Decision.ALLOW
    eve = pol.principal_variables("eve", ACCT, f"arn:aws:iam::{ACCT}:user/eve")
    assert decide(d, variables=eve) is Decision.IMPLICIT_DENY


# --------------------------------------------------------------------------- messages


def test_denial_messages_have_aws_shape() -> None:
    arn = f"arn:aws:iam::{ACCT}:user/bob"
    assert pol.denial_message(arn, "dynamodb:GetItem", TABLE, explicit=False) == (
        f"User: {arn} is not authorized to perform: dynamodb:GetItem on resource: {TABLE} "
        "because no identity-based policy allows the dynamodb:GetItem action"
    )
    assert pol.denial_message(arn, "dynamodb:ListTables", "*", explicit=True) == (
        f"User: {arn} is not authorized to perform: dynamodb:ListTables on resource: * "
        "with an explicit deny in an identity-based policy"
    )
