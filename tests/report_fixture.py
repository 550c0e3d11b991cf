"""A run directory as the harness leaves it, for the verdict, HTML-report and alert
tests: Locust's CSVs written by Locust's own writer (``tests.test_reports_support``),
a manifest, 24 simulated hours of ``hours.csv`` and a run log."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.test_reports_support import write_hours, write_locust_csvs, write_manifest

CART_MS = [100 + i % 50 for i in range(200)]  # 100..149 ms
CHECKOUT_MS = [300 + i for i in range(50)]  # 300..349 ms, every 10th fails with a 500
HOURS = [
    dict(
        sim_hour=h,
        target_users=10 * (h + 1),
        live_users=10 * (h + 1),
        acted=5 * (h + 1),
        shopped=2 * h,
        idle=h,
        completed=h + 1,
        abandoned=1,
        orders=h + 1,
        failed=h % 2,
        missed=1 if h == 5 else 0,
        slip_p50_s=0.5,
        slip_p95_s=1.5,
        slip_p99_s=3.0,
        offer_cycle=0,
    )
    for h in range(24)
]
SHOPPED = sum(r["shopped"] for r in HOURS)
SESSIONS = SHOPPED + sum(r["idle"] for r in HOURS)
COMPLETED = sum(r["completed"] for r in HOURS)
ORDERS = sum(r["orders"] for r in HOURS)


def write_locust_template(d: Path) -> None:
    """Two HTTP endpoints (the harness's own timings are not Locust requests)."""
    reqs: list[tuple[str, str, int, str | None]] = [
        ("GET", "/api/cart", ms, None) for ms in CART_MS
    ]
    reqs += [
        (
            "POST",
            "/api/orders/checkout",
            ms,
            "HTTPError('500 Server Error: Internal Server Error')" if i % 10 == 0 else None,
        )
        for i, ms in enumerate(CHECKOUT_MS)
    ]
    write_locust_csvs(d, reqs, duration_s=60)


@pytest.fixture(scope="module", name="locust_template")
def locust_template_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``locust_template``: the template's Locust CSVs, written once per test module that
    imports this fixture."""
    d = tmp_path_factory.mktemp("locust") / "tpl"
    write_locust_template(d)
    return d


def make_run(
    template: Path, d: Path, *, events: Sequence[dict[str, Any]] = (), **manifest: Any
) -> Path:
    """A ``--mock-db`` run directory from the CSV template; ``manifest`` overrides keys."""
    shutil.copytree(template, d)
    write_manifest(d, **{"mock_db": True, **manifest})
    write_hours(d, HOURS)
    if events:
        lines = [json.dumps(e) for e in events]
        (d / "simulation_runs.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d
