"""Users' policies are validated by regions/policy.py's validator (the one evaluation
compiles with), before anything is stored; a region on a temporary SQLite file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from regions.auth_settings import AuthSettings
from regions.identities import Identities, NoSuchEntity, _check_policies
from regions.policy import PolicyError
from regions.region import Region
from regions.settings import RegionSettings

GOOD = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}],
}


@pytest.fixture
async def identities(tmp_path: Path) -> AsyncIterator[Identities]:
    region = Region(RegionSettings("us-east-1", f"sqlite:///{tmp_path}/ids.db"))
    await region.open()
    try:
        yield Identities(region, AuthSettings(secret_key="unit-secret-key-0123456789"))
    finally:
        await region.close()


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"Version": "2012-10-17"}, "no Statement"),
        ({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}, "Effect"),
        ({"Statement": [{"Effect": "Allow", "Action": "GetItem", "Resource": "*"}]}, "action"),
        ({"Statement": [], "Colour": "red"}, "unknown element"),
        ("not json", "not valid JSON"),
        (["a", "list"], "JSON object"),
    ],
)
def test_bad_documents_are_malformed_policy_documents(document: Any, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        _check_policies([GOOD, document])
    assert info.value.code == "MalformedPolicyDocument"
    assert fragment in info.value.message


def test_good_documents_are_kept_and_json_text_is_parsed() -> None:
    assert _check_policies([GOOD, json.dumps(GOOD)]) == (GOOD, GOOD)
    assert _check_policies([]) == ()


async def test_a_refused_policy_stores_nothing(identities: Identities) -> None:
    bad = {"Statement": [{"Effect": "Allow", "Action": "dynamodb:*"}]}
    with pytest.raises(PolicyError, match="Resource"):
        await identities.create_user("alice", [bad])
    with pytest.raises(NoSuchEntity):
        await identities.get_user("alice")
    user = await identities.create_user("alice", [GOOD])
    with pytest.raises(PolicyError):
        await identities.set_policies("alice", [GOOD, bad])
    assert (await identities.get_user("alice")).policies == user.policies == (GOOD,)
