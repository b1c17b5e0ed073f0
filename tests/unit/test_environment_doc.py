"""docs/environment.md lists every GLOBALTABLES_* variable the code reads."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"GLOBALTABLES_[A-Z][A-Z0-9_]*[A-Z0-9]")
#: prefixes built on in code, not variables
_PREFIXES = {"GLOBALTABLES_KAFKA"}


def _read_by_code() -> set[str]:
    names: set[str] = set()
    sources = [*REPO.glob("*/**/*.py"), REPO / ".ci" / "run", REPO / "Makefile", REPO / "compose.yaml"]
    for path in sources:
        if ".venv" in path.parts or "node_modules" in path.parts:
            continue
        names |= set(_NAME.findall(path.read_text(errors="replace")))
    return names


def test_every_variable_is_documented() -> None:
    documented = set(_NAME.findall((REPO / "docs" / "environment.md").read_text()))
    missing = sorted(_read_by_code() - documented - _PREFIXES)
    assert not missing, f"docs/environment.md does not list {missing}"
