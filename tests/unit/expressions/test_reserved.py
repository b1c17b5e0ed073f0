"""The reserved-word list."""

from __future__ import annotations

import pytest

from regions.expressions import RESERVED_WORDS, is_reserved


def test_list_has_all_573_words() -> None:
    # The developer guide page lists 573 words.
    assert len(RESERVED_WORDS) == 573
    assert all(w == w.upper() for w in RESERVED_WORDS)


@pytest.mark.parametrize(
    "word",
    [
        "ABORT",
        "name",
        "Name",
        "SIZE",
        "value",
        "status",
        "data",
        "ttl",
        "zone",
        "FLATTERN",
        "INNTER",
        "LOGED",
        "and",
        "between",
        "year",
        "user",
        "key",
        "date",
    ],
)
def test_reserved_any_case(word: str) -> None:
    assert is_reserved(word)


@pytest.mark.parametrize("word", ["a", "p", "foo", "nameless", "sizes", "attribute_exists", "x1"])
def test_not_reserved(word: str) -> None:
    assert not is_reserved(word)
