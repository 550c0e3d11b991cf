"""The domain cannot see Locust: the offer engine cannot see Locust, gevent or HTTP clients (walks imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import offer_engine

FORBIDDEN = {
    "locust",
    "gevent",
    "requests",
    "httpx",
    "urllib3",
    "aiohttp",
    "reference_api",
    "harness",
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_offer_engine_imports_no_load_or_http_code():
    files = sorted(Path(offer_engine.__file__).parent.glob("*.py"))
    assert len(files) >= 8
    bad = {f.name: sorted(_imports(f) & FORBIDDEN) for f in files if _imports(f) & FORBIDDEN}
    assert bad == {}


def test_walker_sees_forbidden_imports(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import gevent.monkey\nfrom locust import User\nfrom . import sibling\n")
    assert _imports(sample) == {"gevent", "locust"}


PURE = {
    "calendar.py": {"__future__", "datetime"},
    "pricing.py": {"__future__", "collections", "typing"},
}
"""Modules that ``behaviors`` (which may not see SQL) and ``reports`` import from the engine:
standard-library imports only, so importing them never drags in SQLAlchemy or a driver."""


def test_pure_engine_modules_import_only_the_standard_library():
    root = Path(offer_engine.__file__).parent
    assert {p.name for p in root.glob("*.py")} >= set(PURE)
    extra = {name: sorted(_imports(root / name) - allowed) for name, allowed in PURE.items()}
    assert extra == {name: [] for name in PURE}
