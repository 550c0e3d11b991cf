"""Pre-flight: the map, concept by concept, then the owner's checklist (the
"Pre-flight Checklist", ``check_db.py``).

Each item is one line a human can act on; ``loadsim db check`` exits 2 naming what is
missing. Every query goes through the map (``db.appviews.view_sql`` as a subquery), so the
checklist reads an owner's tables correctly *before* adoption too — and an item whose
concept is missing is reported as skipped, never as a database error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from db.appcheck import ConceptReport
from db.appmap import KNOWN_VALUES, AppMap
from db.appviews import view_sql
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
    """Row counts of every table of the schema as the harness sees it (``None`` = missing):
    on an adopted database that is ``loadsim``'s own tables and the map's views."""
    out: dict[str, int | None] = {}
    with engine.connect() as conn:
        for name in sorted(metadata.tables):
            found = conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
            out[name] = (
                None
                if found is None
                else conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            )
    return out


def schema_checks(
    conn: Connection, *, kind: str, amap: AppMap, revisions: dict[str, str | None]
) -> list[CheckResult]:
    """Migrations (the project's, or the harness's own schema on an owner's database) and,
    on an owner's database, whether it was adopted with this map."""
    if kind != "owner":
        cur, head = revisions.get("current"), revisions.get("head")
        return [
            CheckResult(
                "migrations applied",
                cur is not None and cur == head,
                f"database at {cur or 'nothing'}, code at {head}"
                + ("" if cur == head else " — run `loadsim db upgrade`"),
            )
        ]
    cur, head = revisions.get("harness_current"), revisions.get("harness_head")
    out = [
        CheckResult(
            "harness schema loadsim",
            cur is not None and cur == head,
            f"at {cur or 'nothing'}, code at {head}"
            + ("" if cur == head else " — run `loadsim db upgrade` (touches no app table)"),
        )
    ]
    from db.adopt import adopted_map

    stored = adopted_map(conn) if cur is not None else None
    if stored is None:
        out.append(
            CheckResult(
                "adopted", False, "not yet — `loadsim db adopt --map FILE --sql` shows what it does"
            )
        )
    else:
        same = stored["fingerprint"] == amap.fingerprint()
        out.append(
            CheckResult(
                "adopted",
                same,
                f"with {stored['source']} on {stored['adopted_at']:%Y-%m-%d %H:%M}"
                + ("" if same else f" — differs from {amap.source}: run `loadsim db adopt`"),
            )
        )
    return out


def data_checks(conn: Connection, amap: AppMap, reports: list[ConceptReport]) -> list[CheckResult]:
    """The owner's counts (agents, coupons, products), each through the map."""
    by = {r.name: r for r in reports}

    def sub(name: str) -> str | None:
        rep = by[name]
        return None if rep.table_missing or rep.missing or rep.wrong_type else view_sql(amap, rep)

    out: list[CheckResult] = []
    agents, users, coupons, products = sub("agents"), sub("users"), sub("coupons"), sub("products")

    def rows_of(sql: str) -> list[tuple] | None:
        sp = conn.begin_nested()
        try:
            # READ ONLY: the map's expressions run here over the owner's rows; a check can
            # never change anything, whatever they call.
            conn.exec_driver_sql("SET LOCAL transaction_read_only = on")
            conn.exec_driver_sql(f'SET LOCAL search_path TO "{amap.app_schema}"')
            rows = [tuple(r) for r in conn.exec_driver_sql(sql)]
        except DBAPIError as exc:
            sp.rollback()
            out.append(CheckResult("query", False, str(exc.orig).splitlines()[0]))
            return None
        sp.rollback()
        return rows

    def count(sql: str) -> tuple | None:
        rows = rows_of(sql)
        return None if rows is None else rows[0]

    def skipped(name: str, concept: str) -> None:
        out.append(CheckResult(name, False, f"skipped: concept {concept!r} is not usable (above)"))

    if agents and users:
        row = count(
            f"SELECT count(*) FROM ({agents}) a JOIN ({users}) u ON u.id = a.user_id "
            "WHERE a.status = 'active' AND u.is_simulated"
        )
        if row:
            out.append(
                CheckResult(
                    "active agents with valid users",
                    row[0] >= MIN_AGENTS,
                    f"{row[0]} (need >= {MIN_AGENTS}) — seed with `loadsim personas seed FILE`",
                )
            )
    else:
        skipped("active agents with valid users", "agents" if not agents else "users")
    if coupons:
        row = count(
            "SELECT count(*) FILTER (WHERE kind = 'frontstore'),"
            f" count(*) FILTER (WHERE kind = 'category_brand') FROM ({coupons}) c WHERE is_active"
        )
        if row:
            out += [
                CheckResult(
                    "frontstore coupons",
                    row[0] >= MIN_FRONTSTORE,
                    f"{row[0]} (need >= {MIN_FRONTSTORE}) — `loadsim catalog seed`",
                ),
                CheckResult(
                    "category/brand coupons",
                    row[1] >= MIN_CATEGORY_BRAND,
                    f"{row[1]} (need >= {MIN_CATEGORY_BRAND}) — `loadsim catalog seed`",
                ),
            ]
        kinds = rows_of(
            "SELECT kind, count(*), count(*) FILTER (WHERE category IS NOT NULL OR brand IS NOT"
            f" NULL) FROM ({coupons}) c WHERE is_active GROUP BY kind ORDER BY 2 DESC, 1"
        )
        if kinds:
            result = coupon_kinds(amap, kinds)
            if not result.ok:  # the counts above read 0 because of the words, not the rows
                out[-2:] = [
                    CheckResult(c.name, c.ok, c.detail.split(" — ")[0] + " — see coupon kinds")
                    for c in out[-2:]
                ]
            out.append(result)
    else:
        skipped("coupons", "coupons")
    if products:
        row = count(f"SELECT count(*), count(DISTINCT category) FROM ({products}) p")
        if row:
            out.append(
                CheckResult(
                    "products across categories",
                    row[0] > 0 and row[1] >= MIN_CATEGORIES,
                    f"{row[0]} products in {row[1]} categories (need >= {MIN_CATEGORIES})",
                )
            )
    else:
        skipped("products across categories", "products")
    return out


def coupon_kinds(amap: AppMap, kinds: list[tuple]) -> CheckResult:
    """The coupon kinds found (``(kind, coupons, coupons naming a category or brand)``)
    against the ones the harness knows, and how to map the app's own words.

    Fails when some known kind has no coupon while unknown words do: the app says them in
    its own words and the map does not translate them yet (the counts above read 0)."""
    known = KNOWN_VALUES[("coupons", "kind")]
    found = {str(k): int(n) for k, n, _ in kinds}
    unknown = [(str(k), int(n), int(c)) for k, n, c in kinds if k not in known]
    shown = ", ".join(f"{k} ({n})" for k, n in found.items())
    head = f"found {shown}; the harness knows {', '.join(known)}"
    if not unknown:
        return CheckResult("coupon kinds", True, head)
    col = amap.concepts["coupons"].columns["kind"]
    if any(found.get(k, 0) == 0 for k in known):
        # A guess from the data: coupons naming a category or brand are category_brand.
        pairs = ", ".join(
            f'{_toml_key(k)} = "{"category_brand" if 2 * c > n else "frontstore"}"'
            for k, n, c in unknown
        )
        source = f'column = "{col.column}", ' if col.column else ""
        how = (
            f"map the app's words in [db.map.coupons.columns]: kind = {{ {source}values = "
            f"{{ {pairs} }} }} (guessed from whether the coupons name a category or brand: "
            "check it)"
        )
        if col.column is None:
            how = "translate them in your kind = { sql = ... } expression to " + ", ".join(known)
        return CheckResult("coupon kinds", False, f"{head} — {how}")
    rest = ", ".join(k for k, _, _ in unknown)
    return CheckResult(
        "coupon kinds",
        True,
        f"{head} ({rest}: not a kind the harness knows, counted as neither above; map it with values = "
        "{ ... } if it is one)",
    )


def _toml_key(word: str) -> str:
    import re

    return word if re.fullmatch(r"[A-Za-z0-9_-]+", word) else json.dumps(word)


def check_target(target: str | None, timeout: float = 5.0, path: str = "/health") -> CheckResult:
    """``GET`` of the target's health route (``path``: ``[routes] health`` of the owner's
    map, given by the caller) must report ``simulation_mode: true``."""
    name = "target in SIMULATION_MODE"
    if not target:
        return CheckResult(
            name, True, "no --host: the embedded reference_api runs with SIMULATION_MODE=true"
        )
    url = target.rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - user's target
            body = json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return CheckResult(name, False, f"{url} unreachable: {exc}")
    mode = body.get("simulation_mode")
    return CheckResult(name, mode is True, f"{url} reports simulation_mode={mode!r}")
