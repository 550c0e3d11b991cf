"""Pre-flight: the owner's checklist (seed 001 "Pre-flight Checklist", ``check_db.py``).

Each check is one line a human can act on; ``loadsim db check`` exits non-zero if any fails.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from sqlalchemy import Engine, inspect, text

from db.models import metadata

MIN_AGENTS = 2
MIN_FRONTSTORE = 50
MIN_CATEGORY_BRAND = 150
MIN_CATEGORIES = 3


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def table_counts(engine: Engine) -> dict[str, int | None]:
    """Row counts of every table of the schema (``None`` = table missing)."""
    present = set(inspect(engine).get_table_names())
    out: dict[str, int | None] = {}
    with engine.connect() as conn:
        for name in sorted(metadata.tables):
            out[name] = (
                conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                if name in present
                else None
            )
    return out


def run_checks(
    engine: Engine, *, current: str | None, head: str | None, target: str | None
) -> list[CheckResult]:
    """Run every pre-flight item; never stops at the first failure."""
    results = [
        CheckResult(
            "migrations applied",
            current is not None and current == head,
            f"database at {current or 'nothing'}, code at {head}"
            + ("" if current == head else " — run `loadsim db upgrade`"),
        )
    ]
    present = set(inspect(engine).get_table_names())
    missing = sorted(set(metadata.tables) - present)
    results.append(
        CheckResult(
            "tables present",
            not missing,
            f"all {len(metadata.tables)} tables"
            if not missing
            else "missing: " + ", ".join(missing),
        )
    )
    if {"agents", "users", "coupons", "products"} <= present:
        with engine.connect() as conn:
            agents = conn.execute(
                text(
                    "SELECT count(*) FROM agents a JOIN users u ON u.id = a.user_id "
                    "WHERE a.status = 'active'"
                )
            ).scalar_one()
            front = conn.execute(
                text("SELECT count(*) FROM coupons WHERE kind = 'frontstore' AND is_active")
            ).scalar_one()
            catb = conn.execute(
                text("SELECT count(*) FROM coupons WHERE kind = 'category_brand' AND is_active")
            ).scalar_one()
            products, cats = conn.execute(
                text("SELECT count(*), count(DISTINCT category) FROM products")
            ).one()
        results += [
            CheckResult(
                "active agents with valid users",
                agents >= MIN_AGENTS,
                f"{agents} (need >= {MIN_AGENTS}) — seed with `loadsim personas seed FILE`",
            ),
            CheckResult(
                "frontstore coupons",
                front >= MIN_FRONTSTORE,
                f"{front} (need >= {MIN_FRONTSTORE}) — `loadsim catalog seed`",
            ),
            CheckResult(
                "category/brand coupons",
                catb >= MIN_CATEGORY_BRAND,
                f"{catb} (need >= {MIN_CATEGORY_BRAND}) — `loadsim catalog seed`",
            ),
            CheckResult(
                "products across categories",
                products > 0 and cats >= MIN_CATEGORIES,
                f"{products} products in {cats} categories (need >= {MIN_CATEGORIES})",
            ),
        ]
    results.append(check_target(target))
    return results


def check_target(target: str | None, timeout: float = 5.0) -> CheckResult:
    """``GET /health`` of the target must report ``simulation_mode: true``."""
    name = "target in SIMULATION_MODE"
    if not target:
        return CheckResult(
            name, True, "no --host: the embedded reference_api runs with SIMULATION_MODE=true"
        )
    url = target.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - user's target
            body = json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return CheckResult(name, False, f"{url} unreachable: {exc}")
    mode = body.get("simulation_mode")
    return CheckResult(name, mode is True, f"{url} reports simulation_mode={mode!r}")
