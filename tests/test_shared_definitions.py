"""One owner per shared definition: ``reports`` judges runs with the same
expectation and tolerance the behaviors' offline calibration uses, without importing
``behaviors`` (a peer, docs/ARCHITECTURE.md, Rooms)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import personas
import reports
from behaviors import calibration_report, rhythm
from personas import expectations
from reports import calibration as report_calibration

PEERS_OF_REPORTS = {"behaviors", "harness", "reference_api", "locust", "gevent"}


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    "path", sorted(Path(reports.__file__).parent.glob("*.py")), ids=lambda p: p.name
)
def test_reports_import_no_peer_or_higher_layer(path):
    assert _imported_packages(path) & PEERS_OF_REPORTS == set()


def test_the_expectations_module_sits_below_behaviors_and_reports():
    path = Path(personas.__file__).parent / "expectations.py"
    assert _imported_packages(path) <= {"__future__", "math", "array", "functools", "personas"}


def test_behaviors_and_reports_use_the_same_objects():
    # Not copies that could drift: the very functions and constants of personas.expectations.
    assert rhythm.profile_for is expectations.profile_for is report_calibration.profile_for
    assert rhythm.coupon_lift is expectations.coupon_lift is report_calibration.coupon_lift
    assert calibration_report.bernstein_tolerance is expectations.bernstein_tolerance
    assert report_calibration.bernstein_tolerance is expectations.bernstein_tolerance
    assert calibration_report.DEFAULT_ALPHA == report_calibration.DEFAULT_ALPHA == 0.01


def test_walker_sees_a_sideways_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from behaviors.rhythm import profile_for\nimport numpy as np\n")
    assert _imported_packages(sample) & PEERS_OF_REPORTS == {"behaviors"}
