"""Every ``# type: ignore`` in the shipped packages names its error code and says why, so a
reader knows what mypy was told to overlook (unused ones are mypy's own error:
``warn_unused_ignores`` in pyproject.toml)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "harness", "behaviors", "personas", "offer_engine", "db", "reports", "reference_api",
    "migrations",
)  # fmt: skip
_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<rest>.*)$")
_WELL_FORMED = re.compile(r"^\[[a-z][a-z-]*(?:,\s*[a-z][a-z-]*)*\]\s*(?:#|—|-)\s*\S")


def bare_ignores(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of each ignore without ``[code]`` and a reason after it."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        m = _IGNORE.search(line)
        if m and not _WELL_FORMED.match(m.group("rest").strip()):
            found.append((n, line.strip()))
    return found


def test_every_type_ignore_names_its_code_and_a_reason():
    files = [ROOT / "locustfile.py"] + [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    bad = [
        f"{p.relative_to(ROOT)}:{n}: {line}"
        for p in files
        for n, line in bare_ignores(p.read_text(encoding="utf-8"))
    ]
    assert not bad, "give each ignore its [code] and a reason:\n" + "\n".join(bad)


def test_the_rule_tells_bare_from_explained():
    assert bare_ignores("x = 1  # type: ignore") == [(1, "x = 1  # type: ignore")]
    assert bare_ignores("x = 1  # type: ignore[attr-defined]") != []
    assert bare_ignores("x = 1  # type: ignore[attr-defined]  # set by the caller") == []
    assert bare_ignores("x = 1  # type: ignore[arg-type,misc]  # pydantic checks it") == []
