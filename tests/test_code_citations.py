"""Code cites only what is in the repository.

Comments and docstrings once pointed at design notes, style tables, planning documents and
issue numbers that a person who clones the project does not have. The facts now live in the
comments themselves or in ``docs/``; issue numbers belong in commit messages. This test
walks every source and build file and fails on a citation of a document outside the
repository, naming each file, line and the text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PACKAGES = (
    "harness", "behaviors", "personas", "offer_engine", "db", "reports", "reference_api",
    "migrations", "bench", "tests", "docs",
)  # fmt: skip
TOP_FILES = ("locustfile.py", "README.md", "Makefile", "pyproject.toml", "alembic.ini", ".ci/run")
SUFFIXES = {".py", ".md", ".toml", ".ini", ".cfg", ".txt", ".sh"}

FORBIDDEN = re.compile(
    "|".join(
        (
            r"FIELD_NOTE[S]",  # the design notes outside the repository
            r"\bSTYLE(?:\.md|\s+rows?\b)",  # the style table outside the repository
            r"\bseeds?\s+00\d\b",  # the owner's planning documents, by number
            r"(?<!docs/)\bARCHITECTURE\b(?!\.md\b)|(?<!docs/)ARCHITECTURE\.md|ARCHITECTURE\s*§",
            r"\bissues?\s*#?\d+",  # an issue tracker's numbers (URLs of public issues pass)
        )
    ),
    re.IGNORECASE,
)
"""``STYLE`` and ``ARCHITECTURE`` are matched case-sensitively below (``_STYLE`` and
``architecture`` are ordinary words); the rest in any case."""

_CASE_SENSITIVE = re.compile(r"STYLE|ARCHITECTURE")


def _files() -> list[Path]:
    out = [ROOT / name for name in TOP_FILES if (ROOT / name).exists()]
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*")):
            if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts:
                out.append(p)
    return [p for p in out if p.resolve() != Path(__file__).resolve()]


def find_citations(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of every citation of a document outside the repository."""
    hits = []
    for n, line in enumerate(text.splitlines(), 1):
        for m in FORBIDDEN.finditer(line):
            word = m.group(0)
            if _CASE_SENSITIVE.search(word.upper()) and not _CASE_SENSITIVE.search(word):
                continue  # "architecture", "style": plain words
            if word.startswith("STYLE") and line[max(0, m.start() - 1) : m.start()] == "_":
                continue
            hits.append((n, line.strip()))
            break
    return hits


def test_no_code_or_build_file_cites_a_document_outside_the_repository():
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line}"
        for p in _files()
        for n, line in find_citations(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not found, "cite docs/ or say the fact itself:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "# migrations over a direct connection (FIELD_" + "NOTES)",
        '"""The composition root (STYLE' + ' row 3)."""',
        "# the owner's plan (seed 0" + "02 Q3.4)",
        "Rules (ARCHITECTURE " + "§7):",
        "# Contract errors (issue 14): counted",
        "Issue 13 found the filter written twice",
        'Concurrency design ("Checkout retries", issue #5):',
        "see ARCHITECTURE.md",
    ],
)
def test_each_kind_of_outside_citation_is_found(line):
    assert find_citations(line) == [(1, line.strip())]


@pytest.mark.parametrize(
    "line",
    [
        "the HTTP contract (docs/ARCHITECTURE.md, Rooms)",
        '_STYLE = """',
        "the package that issues the coupons",
        "(https://github.com/pytest-dev/pytest-xdist/issues/1386)",
        "the architecture of the harness, in its own style",
        "--seed 1",
    ],
)
def test_in_repository_citations_and_plain_words_pass(line):
    assert find_citations(line) == []


# ------------------------------------------------------------------ docs/ARCHITECTURE.md

DOC = ROOT / "docs" / "ARCHITECTURE.md"
_CITED = re.compile(r"docs/ARCHITECTURE\.md(?:, | \()([A-Za-z][A-Za-z' -]*)")


def _sections() -> list[str]:
    return [line[3:].strip() for line in DOC.read_text().splitlines() if line.startswith("## ")]


def test_every_cited_section_of_the_architecture_exists():
    """``docs/ARCHITECTURE.md, <Section>`` in the code names a ``##`` heading of the page."""
    heads = [h.lower() for h in _sections()]
    cited = {
        f"{p.relative_to(ROOT)}: {m.group(1).strip()}"
        for p in _files()
        if p.suffix == ".py"
        for m in _CITED.finditer(p.read_text(encoding="utf-8"))
        if not any(m.group(1).lower().startswith(h) for h in heads)
    }
    assert not cited, f"sections not in {DOC.name} ({heads}):\n" + "\n".join(sorted(cited))


def test_the_architecture_page_lists_what_the_code_defines():
    """The page's tables follow the code: every control-plane message in protocol order,
    every ``hours.csv`` column in file order, every route key, every exit code."""
    from harness.config.messages import MESSAGES
    from harness.config.routes import ROUTES
    from reports.harness_timings import COLUMNS as TIMING_COLUMNS
    from reports.hour_table import HOUR_COLUMNS

    text = DOC.read_text()
    protocol = text.split("## Control-plane protocol", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|", protocol, re.MULTILINE)
    assert rows == [m.__name__ for m in MESSAGES]
    hours_row = next(line for line in text.splitlines() if line.startswith("| `hours.csv`"))
    assert tuple(re.findall(r"`(\w+)`", hours_row.split("columns from", 1)[1])) == HOUR_COLUMNS
    timings_row = next(line for line in text.splitlines() if line.startswith("| `harness_timings"))
    cols = re.findall(r"`(\w+)`", timings_row.split("harness_timings.py`:", 1)[1])
    assert tuple(cols) == TIMING_COLUMNS
    contract = text.split("## HTTP contract", 1)[1].split("\n## ", 1)[0]
    keys = {k for cell in re.findall(r"^\| ([^|]+) \|", contract, re.MULTILINE)
            for k in re.findall(r"`(\w+)`", cell)}  # fmt: skip
    assert keys == set(ROUTES)
    exits = text.split("## Failures and exit codes", 1)[1]
    assert re.findall(r"\| (\d) \|$", exits, re.MULTILINE) == ["0", "1", "2", "3", "4", "5"]
