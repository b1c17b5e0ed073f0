"""IAM-style identity policies and resource-based policies: validation and
evaluation.  Pure: no I/O, no request parsing (``api/authorization.py`` turns a
request into :class:`Request` objects and combines both kinds of policies).

A resource-based policy (``compile_policy(doc, resource_based=True)``;
``regions/resource_policy.py``) is the same document with a ``Principal`` (or, with
``Deny``, a ``NotPrincipal``) in every statement; a statement then applies only to
the principals it names (:func:`_names`).

A document is what IAM accepts for an identity-based policy::

    {"Version": "2012-10-17",
     "Statement": [{"Sid": "...", "Effect": "Allow" | "Deny",
                    "Action" | "NotAction": "dynamodb:Get*" | [...],
                    "Resource" | "NotResource": "arn:aws:dynamodb:*:*:table/T" | [...],
                    "Condition": {"ForAllValues:StringEquals":
                                  {"dynamodb:LeadingKeys": ["${aws:username}"]}}}]}

Evaluation (IAM's identity-policy logic, AWS IAM User Guide "Policy evaluation
logic"): a statement applies when its action, resource and every
condition match; any applying Deny wins ("explicit deny"), otherwise any applying
Allow allows, otherwise the request is denied ("no identity-based policy allows").

Matching rules, as IAM documents them:

* Action: ``service:name`` patterns, case-insensitive, ``*`` and ``?`` wildcards.
* Resource: ``*`` or an ARN compared component by component (partition, service,
  region, account, resource), each a case-sensitive glob; within the resource part
  ``*`` also spans ``/``, so ``table/T*`` covers ``table/T/index/I``.
* Condition: every operator block must hold, every key within a block must hold,
  and a key holds if the request's value matches ANY of the listed values (for the
  negated operators: matches none of them).  Condition key names are
  case-insensitive.  A key missing from the request fails a positive operator and
  satisfies a negated one; ``...IfExists`` makes a missing key pass.
  ``ForAllValues:`` holds when every request value matches (vacuously true when the
  key is missing or empty); ``ForAnyValue:`` when at least one does (false when
  missing) [IAM User Guide, "Single-valued vs. multivalued context keys"].
* Policy variables (``${aws:username}``, ``${aws:userid}``, ``${aws:PrincipalArn}``,
  ``${aws:PrincipalAccount}``, ``${aws:PrincipalType}``, and the escapes ``${*}``,
  ``${?}``, ``${$}``; ``${key, 'default'}``) are substituted in Resource and
  Condition values of ``"Version": "2012-10-17"`` documents only, as IAM does; a
  variable with no value and no default makes that value match nothing.

Supported operators: the String*, Arn*, Numeric*, Bool and Null families.  Date,
IpAddress and Binary operators are rejected at upload: no DynamoDB request carries
such a key here, and a policy that silently never matched would be worse than an
error.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from regions.errors import ValidationError

__all__ = [
    "Decision",
    "Policy",
    "PolicyError",
    "Request",
    "compile_policy",
    "denial_message",
    "evaluate",
    "principal_variables",
    "validate_policy",
]

VERSIONS: Final = ("2012-10-17", "2008-10-17")
#: policy variables are substituted only in documents of this version (IAM's rule)
_VARIABLE_VERSION: Final = "2012-10-17"

_STRING_OPS: Final = frozenset(
    {
        "stringequals",
        "stringnotequals",
        "stringequalsignorecase",
        "stringnotequalsignorecase",
        "stringlike",
        "stringnotlike",
    }
)
_ARN_OPS: Final = frozenset({"arnequals", "arnlike", "arnnotequals", "arnnotlike"})
_NUMERIC_OPS: Final = frozenset(
    {
        "numericequals",
        "numericnotequals",
        "numericlessthan",
        "numericlessthanequals",
        "numericgreaterthan",
        "numericgreaterthanequals",
    }
)
_OPERATORS: Final = _STRING_OPS | _ARN_OPS | _NUMERIC_OPS | {"bool", "null"}
#: operators that hold when the request value matches none of the policy values
_NEGATED: Final = frozenset(
    {
        "stringnotequals",
        "stringnotequalsignorecase",
        "stringnotlike",
        "arnnotequals",
        "arnnotlike",
        "numericnotequals",
    }
)
_QUALIFIERS: Final = ("forallvalues", "foranyvalue")
_STATEMENT_KEYS: Final = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
_PRINCIPAL_KEYS: Final = frozenset({"Principal", "NotPrincipal"})
_DOCUMENT_KEYS: Final = frozenset({"Version", "Id", "Statement"})
_SID: Final = re.compile(r"[A-Za-z0-9]*")
_ACTION: Final = re.compile(r"[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+")


class PolicyError(ValidationError):
    """A policy document IAM would refuse (MalformedPolicyDocument)."""

    code = "MalformedPolicyDocument"


class Decision(enum.Enum):
    ALLOW = "allow"
    #: a Deny statement applies
    EXPLICIT_DENY = "explicit-deny"
    #: no Allow statement applies
    IMPLICIT_DENY = "implicit-deny"


@dataclass(frozen=True)
class Request:
    """One authorization question: may the principal do ``action`` on ``resource``?

    ``action`` is ``service:Name`` (``dynamodb:GetItem``); ``resource`` an ARN or
    ``*``; ``context`` the condition keys of the request, each a list of values (a
    single-valued key is a one-element list; a key absent from the request is
    absent here)."""

    action: str
    resource: str
    context: Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class _Test:
    """One key of one condition operator block."""

    qualifier: str | None
    op: str
    if_exists: bool
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Statement:
    allow: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    tests: tuple[_Test, ...]
    #: a resource-based policy's Principal (or NotPrincipal), normalised by
    #: :func:`_principals`; None in an identity-based policy (the principal is the
    #: identity the policy is attached to)
    principals: tuple[str, ...] | None = None
    not_principal: bool = False


@dataclass(frozen=True)
class Policy:
    """A validated document, ready to evaluate."""

    statements: tuple[_Statement, ...]
    variables: bool


# --------------------------------------------------------------------------- validation


def _fail(message: str) -> PolicyError:
    return PolicyError(message)


def _strings(value: object, where: str) -> tuple[str, ...]:
    """A string or a non-empty list of strings (IAM's element grammar)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _fail(f"{where} must be a string or a non-empty list of strings")


def _condition_values(value: object, where: str) -> tuple[str, ...]:
    """Condition values: strings, booleans or numbers, alone or in a list; IAM
    compares them as strings."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _fail(f"{where} must not be an empty list")
    out: list[str] = []
    for v in items:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, int | float):
            out.append(json.dumps(v))
        else:
            raise _fail(f"{where} must be strings, booleans or numbers")
    return tuple(out)


def _operator(name: str) -> tuple[str | None, str, bool]:
    """``ForAllValues:StringLikeIfExists`` -> ("forallvalues", "stringlike", True)."""
    lowered = name.lower()
    qualifier: str | None = None
    if ":" in lowered:
        qualifier, _, lowered = lowered.partition(":")
        if qualifier not in _QUALIFIERS:
            raise _fail(f"Condition operator {name} has an unknown qualifier")
    if_exists = lowered.endswith("ifexists") and lowered != "ifexists"
    base = lowered.removesuffix("ifexists") if if_exists else lowered
    if base not in _OPERATORS:
        raise _fail(f"Condition operator {name} is not supported")
    if base == "null" and if_exists:
        raise _fail("Condition operator NullIfExists is not valid")
    return qualifier, base, if_exists


def _tests(condition: object, where: str) -> tuple[_Test, ...]:
    if not isinstance(condition, dict):
        raise _fail(f"{where} must be an object")
    out: list[_Test] = []
    for op_name, block in condition.items():
        qualifier, op, if_exists = _operator(str(op_name))
        if not isinstance(block, dict) or not block:
            raise _fail(f"{where}.{op_name} must be a non-empty object of condition keys")
        for key, raw in block.items():
            if not isinstance(key, str) or not key:
                raise _fail(f"{where}.{op_name} has an invalid condition key")
            values = _condition_values(raw, f"{where}.{op_name}.{key}")
            if op == "null" and any(v.lower() not in ("true", "false") for v in values):
                raise _fail(f"{where}.{op_name}.{key}: Null takes true or false")
            out.append(_Test(qualifier, op, if_exists, key.lower(), values))
    return tuple(out)


def _check_action(action: str, where: str) -> None:
    if action != "*" and _ACTION.fullmatch(action) is None:
        raise _fail(f"{where}: {action!r} is not an action (service:Name, wildcards allowed)")


def _check_resource(resource: str, where: str) -> None:
    if resource == "*":
        return
    parts = _split_arn(resource)
    if parts is None or parts[0] != "arn":
        raise _fail(
            f"{where}: {resource!r} must be * or an ARN (arn:partition:service:region:account:resource)"
        )


def _principals(value: object, where: str) -> tuple[str, ...]:
    """A Principal element -> its entries, each ``*`` (anyone), ``account:<id>`` (an
    account: its 12-digit id or ``arn:aws:iam::<id>:root``), ``arn:<an IAM ARN>`` or
    ``service:<name>`` / ``federated:<name>`` (which match no user of a region).  IAM
    allows no wildcard inside a principal (IAM User Guide, "AWS JSON policy elements:
    Principal")."""
    if value == "*":
        return ("*",)
    if not isinstance(value, dict) or not value:
        raise _fail(f'{where} must be "*" or an object such as {{"AWS": [...]}}')
    out: list[str] = []
    for kind, raw in value.items():
        names = _strings(raw, f"{where}.{kind}")
        if kind == "AWS":
            for name in names:
                out.append(_aws_principal(name, f"{where}.AWS"))
        elif kind in ("Service", "Federated"):
            out.extend(f"{kind.lower()}:{n}" for n in names)
        else:
            raise _fail(
                f"{where}: principal type {kind} is not supported (AWS, Service, Federated)"
            )
    return tuple(out)


_ACCOUNT_ID: Final = re.compile(r"[0-9]{12}")


def _aws_principal(name: str, where: str) -> str:
    if name == "*":
        return "*"
    if _ACCOUNT_ID.fullmatch(name):
        return f"account:{name}"
    parts = name.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] not in ("iam", "sts") or not parts[5]:
        raise _fail(f"{where}: {name!r} is not a valid principal (an account id or an IAM ARN)")
    if "*" in name or "?" in name:
        raise _fail(f"{where}: {name!r}: a principal ARN cannot contain wildcards")
    if parts[2] == "iam" and parts[5] == "root" and _ACCOUNT_ID.fullmatch(parts[4]):
        return f"account:{parts[4]}"
    return f"arn:{name}"


def _statement(raw: object, where: str, *, resource_based: bool = False) -> _Statement:
    if not isinstance(raw, dict):
        raise _fail(f"{where} must be an object")
    unknown = sorted(
        str(k)
        for k in raw
        if k not in _STATEMENT_KEYS and not (resource_based and k in _PRINCIPAL_KEYS)
    )
    principals: tuple[str, ...] | None = None
    not_principal = False
    if not resource_based and ("Principal" in raw or "NotPrincipal" in raw):
        raise _fail(f"{where}: an identity-based policy cannot name a Principal")
    if resource_based:
        if ("Principal" in raw) == ("NotPrincipal" in raw):
            raise _fail(f"{where} must have exactly one of Principal and NotPrincipal")
        not_principal = "NotPrincipal" in raw
        if not_principal and raw.get("Effect") != "Deny":
            raise _fail(f"{where}: NotPrincipal is supported with Effect Deny only")
        key = "NotPrincipal" if not_principal else "Principal"
        principals = _principals(raw[key], f"{where}.{key}")
    if unknown:
        raise _fail(f"{where} has unknown element(s): {', '.join(unknown)}")
    sid = raw.get("Sid")
    if sid is not None and (not isinstance(sid, str) or _SID.fullmatch(sid) is None):
        raise _fail(f"{where}.Sid must be letters and digits")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise _fail(f"{where}.Effect must be Allow or Deny")
    if ("Action" in raw) == ("NotAction" in raw):
        raise _fail(f"{where} must have exactly one of Action and NotAction")
    if ("Resource" in raw) == ("NotResource" in raw):
        raise _fail(f"{where} must have exactly one of Resource and NotResource")
    action_key = "Action" if "Action" in raw else "NotAction"
    resource_key = "Resource" if "Resource" in raw else "NotResource"
    actions = _strings(raw[action_key], f"{where}.{action_key}")
    for a in actions:
        _check_action(a, f"{where}.{action_key}")
    resources = _strings(raw[resource_key], f"{where}.{resource_key}")
    for r in resources:
        _check_resource(r, f"{where}.{resource_key}")
    tests = _tests(raw["Condition"], f"{where}.Condition") if "Condition" in raw else ()
    return _Statement(
        allow=effect == "Allow",
        actions=tuple(a.lower() for a in actions),
        not_action=action_key == "NotAction",
        resources=resources,
        not_resource=resource_key == "NotResource",
        tests=tests,
        principals=principals,
        not_principal=not_principal,
    )


def _document(doc: object) -> dict[str, Any]:
    if isinstance(doc, str | bytes):
        try:
            doc = json.loads(doc)
        except ValueError:
            raise _fail("The policy document is not valid JSON") from None
    if not isinstance(doc, dict):
        raise _fail("The policy document must be a JSON object")
    return doc


def compile_policy(doc: object, *, resource_based: bool = False) -> Policy:
    """Validate a document (a dict or its JSON text) and prepare it for evaluation.
    Raises :class:`PolicyError` saying what is wrong.  ``resource_based``: a policy
    attached to a resource, whose every statement names its Principal (or
    NotPrincipal); an identity-based policy may name none."""
    data = _document(doc)
    unknown = sorted(str(k) for k in data if k not in _DOCUMENT_KEYS)
    if unknown:
        raise _fail(f"The policy document has unknown element(s): {', '.join(unknown)}")
    version = data.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise _fail(f"Version must be one of {', '.join(VERSIONS)}")
    if "Statement" not in data:
        raise _fail("The policy document has no Statement")
    raw = data["Statement"]
    statements = raw if isinstance(raw, list) else [raw]
    if not statements:
        raise _fail("Statement must not be empty")
    return Policy(
        statements=tuple(
            _statement(s, f"Statement[{i}]", resource_based=resource_based)
            for i, s in enumerate(statements)
        ),
        variables=version == _VARIABLE_VERSION,
    )


def validate_policy(doc: object) -> dict[str, Any]:
    """The document as a dict if IAM-valid (for storing with a user), else raises
    :class:`PolicyError` (a ValidationError, code ``MalformedPolicyDocument``)."""
    data = _document(doc)
    compile_policy(data)
    return data


# --------------------------------------------------------------------------- matching


def _split_arn(text: str) -> list[str] | None:
    """The six colon-separated ARN components; colons inside ``${...}`` do not split."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            current.append("${")
            i += 2
            continue
        ch = text[i]
        if ch == "}" and depth:
            depth -= 1
        if ch == ":" and not depth and len(parts) < 5:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts if len(parts) == 6 else None


_Vars = tuple[tuple[str, str], ...] | None


def _variable(body: str, variables: Mapping[str, str]) -> str | None:
    """The value of ``${body}``: an escape, a known variable, or its default."""
    if body in ("*", "?", "$"):
        return body
    name, sep, default = body.partition(",")
    value = variables.get(name.strip().lower())
    if value is not None:
        return value
    default = default.strip()
    if sep and len(default) >= 2 and default[0] == default[-1] == "'":
        return default[1:-1]
    return None


def _pieces(pattern: str, variables: _Vars) -> list[tuple[bool, str]] | None:
    """``pattern`` as (is_literal, text) pieces: substituted variables are literal, a
    bare ``*``/``?`` is a wildcard.  None when a variable has no value."""
    out: list[tuple[bool, str]] = []
    vars_map = dict(variables) if variables is not None else None
    i = 0
    while i < len(pattern):
        if vars_map is not None and pattern.startswith("${", i):
            end = pattern.find("}", i)
            if end != -1:
                value = _variable(pattern[i + 2 : end], vars_map)
                if value is None:
                    return None
                out.append((True, value))
                i = end + 1
                continue
        ch = pattern[i]
        out.append((ch not in "*?", ch))
        i += 1
    return out


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, variables: _Vars, ignore_case: bool) -> re.Pattern[str] | None:
    pieces = _pieces(pattern, variables)
    if pieces is None:
        return None
    regex = "".join(
        re.escape(text) if literal else (".*" if text == "*" else ".") for literal, text in pieces
    )
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


@functools.lru_cache(maxsize=4096)
def _literal(value: str, variables: _Vars) -> str | None:
    pieces = _pieces(value, variables)
    return None if pieces is None else "".join(text for _, text in pieces)


def _glob_match(pattern: str, value: str, variables: _Vars, *, ignore_case: bool) -> bool:
    regex = _glob(pattern, variables, ignore_case)
    return regex is not None and regex.fullmatch(value) is not None


def _arn_match(pattern: str, arn: str, variables: _Vars) -> bool:
    if pattern == "*":
        return True
    want = _split_arn(pattern)
    have = arn.split(":", 5)
    if want is None or len(have) != 6:
        return False
    return all(
        _glob_match(w, h, variables, ignore_case=False) for w, h in zip(want, have, strict=True)
    )


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _value_matches(op: str, have: str, want: str, variables: _Vars) -> bool:
    """The positive form of ``op`` for one request value against one policy value."""
    if op in ("stringequals", "stringnotequals"):
        return _literal(want, variables) == have
    if op in ("stringequalsignorecase", "stringnotequalsignorecase"):
        lit = _literal(want, variables)
        return lit is not None and lit.casefold() == have.casefold()
    if op in ("stringlike", "stringnotlike"):
        return _glob_match(want, have, variables, ignore_case=False)
    if op in _ARN_OPS:
        return _arn_match(want, have, variables)
    if op == "bool":
        return have.lower() == want.lower()
    a, b = _number(have), _number(want)
    if a is None or b is None:
        return False
    if op in ("numericequals", "numericnotequals"):
        return a == b
    if op == "numericlessthan":
        return a < b
    if op == "numericlessthanequals":
        return a <= b
    if op == "numericgreaterthan":
        return a > b
    return a >= b  # numericgreaterthanequals


def _test_holds(test: _Test, context: Mapping[str, Sequence[str]], variables: _Vars) -> bool:
    values = context.get(test.key)
    present = bool(values)
    if test.op == "null":
        # Null: true asks for the key to be absent, false for it to be present
        return (not present) if test.values[0].lower() == "true" else present
    if not present:
        if test.if_exists or test.qualifier == "forallvalues":
            return True
        if test.qualifier == "foranyvalue":
            return False
        # a missing key fails a positive operator and satisfies a negated one
        return test.op in _NEGATED
    assert values is not None
    negated = test.op in _NEGATED

    def ok(have: str) -> bool:
        hit = any(_value_matches(test.op, have, want, variables) for want in test.values)
        return not hit if negated else hit

    if test.qualifier == "forallvalues":
        return all(ok(v) for v in values)
    if test.qualifier == "foranyvalue":
        return any(ok(v) for v in values)
    # a plain operator on several values: a positive one needs some value to match,
    # a negated one needs every value to avoid the listed ones
    return all(ok(v) for v in values) if negated else any(ok(v) for v in values)


def _applies(
    st: _Statement,
    action: str,
    resource: str,
    context: Mapping[str, Sequence[str]],
    variables: _Vars,
) -> bool:
    hit = any(_glob_match(a, action, None, ignore_case=True) for a in st.actions)
    if hit == st.not_action:
        return False
    hit = any(_arn_match(r, resource, variables) for r in st.resources)
    if hit == st.not_resource:
        return False
    return all(_test_holds(t, context, variables) for t in st.tests)


def _names(st: _Statement, variables: Mapping[str, str]) -> tuple[bool, bool]:
    """Does a resource-based statement name the requesting principal: (for a Deny,
    for an Allow)?  An identity-based statement always names its identity.

    ``*`` and the principal's own ARN name it for both.  The principal's account
    (``arn:aws:iam::<id>:root`` or the id) names it for a Deny only: an Allow to an
    account delegates to the account, whose identity-based policies must then allow
    the user (IAM User Guide, "AWS JSON policy elements: Principal", AWS account
    principals), while a Deny to an account denies every identity in it."""
    if st.principals is None:
        return True, True
    arn = variables.get("aws:principalarn")
    account = variables.get("aws:principalaccount")
    own = any(p == "*" or (arn is not None and p == f"arn:{arn}") for p in st.principals)
    in_account = own or (account is not None and f"account:{account}" in st.principals)
    if st.not_principal:
        # NotPrincipal (Deny only): every principal but the ones listed
        return not in_account, False
    return in_account, own


def evaluate(
    policies: Iterable[Policy], request: Request, variables: Mapping[str, str] | None = None
) -> Decision:
    """IAM's decision for one request: an applying Deny wins, then an applying Allow.

    The policies may be identity-based or resource-based (whose statements apply
    only to the principals they name, from ``variables``' ``aws:PrincipalArn`` and
    ``aws:PrincipalAccount``): for a request within one account an Allow in either
    kind allows and a Deny in either denies (IAM User Guide, "Policy evaluation for
    requests within a single account")."""
    context = {k.lower(): list(v) for k, v in request.context.items()}
    # the principal's variables are global condition keys too (aws:username...)
    lowered = {k.lower(): v for k, v in (variables or {}).items()}
    for key, value in lowered.items():
        context.setdefault(key, [value])
    frozen: _Vars = tuple(sorted(lowered.items()))
    allowed = False
    for policy in policies:
        vars_ = frozen if policy.variables else None
        for st in policy.statements:
            if st.principals is not None:
                for_deny, for_allow = _names(st, lowered)
                if not (for_allow if st.allow else for_deny):
                    continue
            if _applies(st, request.action, request.resource, context, vars_):
                if not st.allow:
                    return Decision.EXPLICIT_DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def principal_variables(name: str, account_id: str, arn: str) -> dict[str, str]:
    """The policy variables (and global condition keys) of an IAM user."""
    return {
        "aws:username": name,
        "aws:userid": name,
        "aws:principalarn": arn,
        "aws:principalaccount": account_id,
        "aws:principaltype": "User",
    }


def denial_message(
    principal_arn: str, action: str, resource: str, explicit: bool, *, resource_based: bool = False
) -> str:
    """AccessDeniedException's Message, worded as AWS words it (e.g.
    appsmithorg/appsmith#21846 and sebdah/dynamic-dynamodb#321 quote the service;
    ``resource_based``: the explicit deny is a resource-based policy's, worded as the
    IAM User Guide's "Access denied error messages" words it)."""
    head = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    if explicit:
        kind = "a resource-based" if resource_based else "an identity-based"
        return f"{head} with an explicit deny in {kind} policy"
    return f"{head} because no identity-based policy allows the {action} action"
