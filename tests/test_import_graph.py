"""The import graph follows docs/ARCHITECTURE.md, "Rooms": packages import only what their
row allows, a harness room only the rooms below it, and neither graph has a cycle.

Every import counts — at module level, inside a function, under ``TYPE_CHECKING`` — because
each is a dependency a reader has to follow. The rules are read from the page itself, so the
page and the code cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs/ARCHITECTURE.md"

KNOWN_ROOM_EXCEPTIONS: dict[tuple[str, str], set[str]] = {}
"""Room edges that break the rule today, with the files that make them. The test fails when
a new file joins (fix it instead) and when one leaves (then shrink this list)."""


def _rooms_section() -> str:
    return DOC.read_text().split("## Rooms", 1)[1].split("\n## ", 1)[0]


def _table(section: str, first_header: str) -> list[list[str]]:
    lines = section.split(f"| {first_header} |", 1)[1].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _names(cell: str) -> list[str]:
    return [n.split(".")[0].rstrip("/").removesuffix(".py") for n in re.findall(r"`([^`]+)`", cell)]


def allowed_packages() -> dict[str, set[str]]:
    return {_names(r[0])[0]: set(_names(r[2])) for r in _table(_rooms_section(), "package")}


def room_order() -> list[str]:
    return [_names(r[0])[0] for r in _table(_rooms_section(), "room")]


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def package_edges(packages: set[str]) -> dict[tuple[str, str], set[str]]:
    """(importer, imported) → files, between the top-level packages (and locustfile)."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    files = [ROOT / "locustfile.py"] + [p for pkg in packages if pkg != "locustfile"
                                         for p in (ROOT / pkg).rglob("*.py")]  # fmt: skip
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        src = rel.split("/")[0].removesuffix(".py")
        for mod in _imports(f):
            dst = mod.split(".")[0]
            if dst in packages and dst != src:
                edges[(src, dst)].add(rel)
    return edges


def room_edges() -> dict[tuple[str, str], set[str]]:
    """(room, room) → files, inside ``harness/``."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for f in (ROOT / "harness").rglob("*.py"):
        rel = f.relative_to(ROOT).as_posix()
        parts = rel.split("/")
        if len(parts) < 3:
            continue  # harness/__init__.py
        for mod in _imports(f):
            bits = mod.split(".")
            if bits[0] == "harness" and len(bits) > 1 and bits[1] != parts[1]:
                edges[(parts[1], bits[1])].add(rel)
    return edges


def _has_cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_page_declares_every_package_and_room():
    allowed = allowed_packages()
    assert set(allowed) == {
        "locustfile", "harness", "reports", "behaviors", "reference_api", "offer_engine",
        "personas", "db", "migrations",
    }  # fmt: skip
    rooms = {p.name for p in (ROOT / "harness").iterdir() if (p / "__init__.py").exists()}
    assert sorted(room_order()) == sorted(rooms)


def test_packages_import_only_what_their_row_allows():
    allowed = allowed_packages()
    allowed["locustfile"] = {"harness"}  # its row names harness.wiring
    bad = {
        f"{a} → {b}: {sorted(files)}"
        for (a, b), files in package_edges(set(allowed)).items()
        if b not in allowed[a]
    }
    assert not bad, "\n".join(sorted(bad))
    assert _has_cycle({(a, b) for a, bs in allowed.items() for b in bs}) is None


def test_a_room_imports_only_the_rooms_below_it():
    order = room_order()
    found = room_edges()
    bad = {
        f"{a} → {b}: {sorted(files)}"
        for (a, b), files in found.items()
        if order.index(b) < order.index(a) and KNOWN_ROOM_EXCEPTIONS.get((a, b)) != files
    }
    assert not bad, "\n".join(sorted(bad))
    gone = {e for e in KNOWN_ROOM_EXCEPTIONS if e not in found}
    assert not gone, f"fixed, so remove them from KNOWN_ROOM_EXCEPTIONS: {sorted(gone)}"
    assert _has_cycle(set(found) - set(KNOWN_ROOM_EXCEPTIONS)) is None


@pytest.mark.parametrize(
    ("edges", "cyclic"),
    [({("a", "b"), ("b", "c")}, False), ({("a", "b"), ("b", "c"), ("c", "a")}, True)],
)
def test_the_cycle_finder_finds_cycles(edges, cyclic):
    assert (_has_cycle(edges) is not None) is cyclic
