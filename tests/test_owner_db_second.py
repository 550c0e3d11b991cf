"""A second owner's app database, as it comes (``tests/data/second_owner_schema.sql``: its
own schema ``shop``, its own names, uuid customers), from ``loadsim db check`` to a clean
``--mock-api`` run, with every fix named by ``db check`` and applied as printed.

What the schema has that an app written without the harness in mind has: no unique index
on the column mapped to ``agents.persona_id`` (seeding upserts by it), a uuid key with no
default (seeding inserts users without one), coupon kinds in the app's own words, no
simulated marker on its sessions table. Real processes throughout (``loadsim`` and
``locust`` subprocesses) on the suite's real Postgres.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, create_engine, text

from personas import SAMPLE_PATH
from tests.e2e_support import harness_env, run_locust
from tests.owner_db_support import ROOT, loadsim

SCHEMA_SQL = ROOT / "tests" / "data" / "second_owner_schema.sql"
MAP_FILE = ROOT / "tests" / "data" / "second_owner_map.toml"
PERSONAS = 40
HOURS = 4
SIM_START = "2026-01-10T09:00:00+00:00"  # a Saturday morning: shoppers are out

_REAL_CUSTOMER = (
    "customer_uuid IN (SELECT customer_uuid FROM shop.customers WHERE NOT is_synthetic)"
)
REAL = {
    "customers": "NOT is_synthetic",
    "shopper_bots": _REAL_CUSTOMER,
    "basket_lines": _REAL_CUSTOMER,
    "wallet_entries": "NOT is_synthetic",
    "purchases": "NOT is_synthetic",
    "purchase_lines": "purchase_id IN (SELECT purchase_id FROM shop.purchases WHERE NOT is_synthetic)",
    "visits": _REAL_CUSTOMER,
    "visit_events": f"visit_id IN (SELECT visit_id FROM shop.visits WHERE {_REAL_CUSTOMER})",
}
"""Which rows of each app table are the app's own, from the schema's columns (not from the
map under test); tables not listed are the app's catalog: every row is real."""


def create_second_db(pg_server: object, name: str) -> str:
    url = pg_server.create_database(name, drop_first=True)  # type: ignore[attr-defined]
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            conn.exec_driver_sql(SCHEMA_SQL.read_text())
    finally:
        eng.dispose()
    return url


def shop_columns(eng: Engine) -> dict[str, list[tuple[str, str, str, str | None]]]:
    """``{table: [(column, type, nullable, default), …]}`` of schema ``shop``."""
    with eng.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, column_name, data_type, is_nullable, column_default"
                " FROM information_schema.columns WHERE table_schema = 'shop'"
                " ORDER BY table_name, ordinal_position"
            )
        ).all()
    out: dict[str, list] = {}
    for t, *col in rows:
        out.setdefault(t, []).append(tuple(col))
    return out


def real_rows(eng: Engine, columns: dict[str, list]) -> dict[str, tuple[int, str]]:
    """``{table: (rows, md5)}`` of the app's own rows, over the columns of ``columns``."""
    out = {}
    with eng.connect() as conn:
        for table, cols in sorted(columns.items()):
            collist = ", ".join(f'"{c[0]}"' for c in cols)
            n, digest = conn.execute(
                text(
                    "SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"
                    f' FROM (SELECT {collist} FROM shop."{table}" WHERE {REAL.get(table, "true")}) r'
                )
            ).one()
            out[table] = (int(n), str(digest))
    return out


def named_fixes(stdout: str) -> list[str]:
    """The statements ``db check`` printed under "your app's tables need"."""
    lines = stdout.split("your app's tables need", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("--")]


def synthetic_customers(eng: Engine) -> int:
    with eng.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM shop.customers WHERE is_synthetic")
        ).scalar_one()


def _no_traceback(r) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-3000:]


@pytest.fixture(scope="module")
def second(pg_server, tmp_path_factory):
    """The owner's path, step by step, each step's output kept for the tests to read."""
    tmp = tmp_path_factory.mktemp("second_owner")
    url = create_second_db(pg_server, "own_second_path")
    eng = create_engine(url)
    seed_args = ("personas", "seed", "--test", str(PERSONAS), str(SAMPLE_PATH))
    s = SimpleNamespace(url=url, eng=eng, tmp=tmp, steps={}, refused={})
    s.columns = shop_columns(eng)
    s.real = real_rows(eng, s.columns)
    s.steps["check"] = loadsim("db", "check", "--map", str(MAP_FILE), url=url)
    s.steps["adopt"] = loadsim("db", "upgrade", "--adopt", "--map", str(MAP_FILE), url=url)
    s.adopted_columns = shop_columns(eng)
    s.fixes = named_fixes(s.steps["check"].stdout)
    # The owner applies each named statement in turn; seeding before each one is refused.
    for i, fix in enumerate(s.fixes):
        s.steps[f"seed_before_fix_{i}"] = loadsim(*seed_args, url=url)
        s.refused[i] = synthetic_customers(eng)
        with eng.begin() as conn:
            conn.exec_driver_sql(fix)
    # ... and writes the map line check printed for the coupon kinds into the map.
    kind = re.search(r"kind = \{ column = .*? \} \}", s.steps["check"].stdout)
    s.map2 = tmp / "second_owner_map.toml"
    if kind:
        s.map2.write_text(MAP_FILE.read_text().replace('kind = "promo_kind"', kind.group(0)))
    s.steps["adopt2"] = loadsim("db", "adopt", "--map", str(s.map2), url=url)
    s.steps["seed"] = loadsim(*seed_args, url=url)
    s.steps["check2"] = loadsim("db", "check", url=url)  # the map stored at adoption
    yield s
    eng.dispose()


def test_check_names_every_fix_and_each_named_fix_is_what_seeding_needed(second):
    check = second.steps["check"]
    _no_traceback(check)
    assert check.returncode == 2
    assert second.fixes == [
        'ALTER TABLE "shop"."customers" ALTER COLUMN "customer_uuid" SET DEFAULT gen_random_uuid();',
        'CREATE UNIQUE INDEX "shopper_bots_persona_ref_key" ON "shop"."shopper_bots" ("persona_ref");',
    ]
    rows = {line.split()[0]: line for line in check.stdout.splitlines() if line.split()}
    assert "needs a default on customer_uuid" in rows["users"]
    assert "needs a unique index on persona_ref" in rows["agents"]
    assert (
        "missing is_simulated (additive: `loadsim db adopt` adds it)" in rows["shopping_sessions"]
    )
    assert (
        "[FAIL] coupon kinds: found targeted (160), basket (60), staff (1); the harness knows "
        "frontstore, category_brand — map the app's words in [db.map.coupons.columns]: "
        'kind = { column = "promo_kind", values = { targeted = "category_brand", '
        'basket = "frontstore", staff = "frontstore" } }'
    ) in check.stdout
    assert "[FAIL] category/brand coupons: 0 (need >= 150) — see coupon kinds" in check.stdout
    last = check.stderr.strip().splitlines()[-1]
    for item in ("shopping_sessions.is_simulated", "users.id", "agents.persona_id", "coupon kinds"):
        assert item in last, last

    # Adoption adds the sessions' marker like run_id: nullable, the app's rows read false.
    adopt = second.steps["adopt"]
    _no_traceback(adopt)
    assert adopt.returncode == 0, adopt.stderr
    added = {
        t: sorted(set(second.adopted_columns[t]) - set(second.columns[t]))
        for t in second.columns
        if set(second.adopted_columns[t]) != set(second.columns[t])
    }
    assert added == {
        "visits": [
            ("is_replay", "boolean", "YES", None),
            ("is_simulated", "boolean", "YES", "false"),
            ("run_id", "text", "YES", None),
        ]
    }
    with second.eng.connect() as conn:
        assert conn.execute(text("SELECT is_simulated FROM shop.visits")).scalars().all() == [False]

    # Seeding before each fix: one line naming exactly that fix, nothing written.
    for i, fix in enumerate(second.fixes):
        r = second.steps[f"seed_before_fix_{i}"]
        _no_traceback(r)
        assert r.returncode == 2
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"run `{fix}` first; nothing was written" in r.stderr
        assert second.refused[i] == 0

    for step in ("adopt2", "seed", "check2"):
        _no_traceback(second.steps[step])
    assert second.steps["adopt2"].returncode == 0, second.steps["adopt2"].stderr
    seed = second.steps["seed"]
    assert seed.returncode == 0, seed.stderr
    assert f"users: {PERSONAS} ({PERSONAS} created" in seed.stdout
    assert f"agents: {PERSONAS} ({PERSONAS} created" in seed.stdout
    check2 = second.steps["check2"]
    assert check2.returncode == 0, check2.stdout[-2000:] + check2.stderr
    assert (
        "[PASS] coupon kinds: found category_brand (160), frontstore (61); the harness knows "
        "frontstore, category_brand"
    ) in check2.stdout
    assert "all 15 concepts found; 8/8 checks passed" in check2.stdout
    assert real_rows(second.eng, second.columns) == second.real


@pytest.mark.e2e
def test_a_short_mock_api_run_on_the_second_schema_is_clean(second):
    """~10 s of locust: 40 personas, 4 simulated hours at 3600x."""
    assert second.steps["check2"].returncode == 0, second.steps["check2"].stdout[-2000:]
    env = harness_env(second.url, second.tmp, LOADSIM_DB_MAP=str(second.map2))
    runs = second.tmp / "runs"
    r = run_locust(
        ["--headless", "--mock-api", "--time-scale", "3600", "--sim-start", SIM_START,
         "--ramp", "0:100", "--rate-limit", "0", "--drain-seconds", "3",
         "--sim-duration", f"{HOURS}h", "--run-id", "second", "--runs-dir", str(runs)],
        env=env, cwd=second.tmp,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    _no_traceback(r)
    assert json.loads((runs / "second" / "manifest.json").read_text())["exit_code"] == 0
    with second.eng.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
        ours = q("SELECT count(*) FROM loadsim.shopping_sessions WHERE run_id = 'second'")[0][0]
        assert ours > 0
        # Every session mirrored into the app's visits, marked, with its run and its user.
        assert q(
            "SELECT count(*) FROM shop.visits v JOIN shop.customers c USING (customer_uuid)"
            " WHERE v.is_simulated AND v.run_id = 'second' AND c.is_synthetic"
            " AND v.bot_id IS NOT NULL"
        )[0][0] == ours  # fmt: skip
        events = q("SELECT count(*) FROM loadsim.shopping_session_events WHERE run_id = 'second'")
        assert events[0][0] > 0
        assert q(
            "SELECT count(*) FROM shop.visit_events e JOIN shop.visits v USING (visit_id)"
            " WHERE v.run_id = 'second'"
        )[0][0] == events[0][0]  # fmt: skip
        assert q("SELECT count(*) FROM shop.visits WHERE NOT is_simulated")[0][0] == 1
    assert real_rows(second.eng, second.columns) == second.real


def test_a_maps_expressions_run_read_only_in_check_and_in_the_adopt_preview(pg_server, tmp_path):
    """An expression that would advance a sequence (not undone by a rollback): ``db check``
    and ``db adopt --sql`` report it refused and the sequence is untouched."""
    url = create_second_db(pg_server, "own_second_read_only")
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE SEQUENCE shop.probe_seq")
        # IMMUTABLE (wrongly): the planner runs it once even for a LIMIT 0 probe.
        conn.exec_driver_sql(
            "CREATE FUNCTION shop.bump() RETURNS bigint LANGUAGE sql IMMUTABLE"
            " AS $$ SELECT nextval('shop.probe_seq') $$"
        )
    mapped = MAP_FILE.read_text()
    mapped = mapped.replace(
        "sku = { sql = \"'item-' || item_id\" }",
        "sku = { sql = \"'item-' || nextval('shop.probe_seq')\" }",
    )
    mapped = mapped.replace('title = "headline"', "title = { sql = \"'t' || shop.bump()\" }")
    assert mapped.count("probe_seq") == 1 and mapped.count("bump") == 1
    path = tmp_path / "map.toml"
    path.write_text(mapped)
    try:
        check = loadsim("db", "check", "--map", str(path), url=url)
        _no_traceback(check)
        assert check.returncode == 2
        assert (
            "title = 't' || shop.bump(): cannot execute nextval() in a read-only transaction"
            in check.stdout
        )
        assert "[FAIL] query: cannot execute nextval() in a read-only transaction" in check.stdout
        preview = loadsim("db", "adopt", "--map", str(path), "--sql", url=url)
        _no_traceback(preview)
        assert preview.returncode == 2
        assert "cannot execute nextval() in a read-only transaction" in preview.stderr
        with eng.connect() as conn:
            assert conn.execute(text("SELECT last_value, is_called FROM shop.probe_seq")).one() == (
                1,
                False,
            )
            assert conn.execute(text("SELECT to_regclass('loadsim.products')")).scalar() is None
    finally:
        eng.dispose()


def test_the_fixture_files_are_independent_of_the_projects_names():
    """Written as another app's: none of the project's table names, and the map maps them."""
    from db.appmap import CONCEPTS

    sql = SCHEMA_SQL.read_text()
    tables = re.findall(r"create table shop\.(\w+)", sql)
    assert len(tables) == 11 and not set(tables) & set(CONCEPTS)
    assert Path(MAP_FILE).read_text().count('app_schema = "shop"') == 1


def test_values_translate_the_apps_words_both_ways_and_bad_ones_are_named():
    from db.appmap import build_map
    from db.errors import ConfigError

    amap = build_map(
        {"coupons": {"columns": {"kind": {"column": "type", "values": {"it's": "frontstore"}}}}},
        source="m.toml",
    )
    col = amap.concepts["coupons"].columns["kind"]
    assert col.select_sql('"c"') == (
        """CASE "c"."type" WHEN 'it''s' THEN 'frontstore' ELSE "c"."type" END"""
    )
    assert (
        col.write_sql("NEW.kind")
        == "CASE NEW.kind WHEN 'frontstore' THEN 'it''s' ELSE NEW.kind END"
    )
    assert not col.writable and col.describe() == "kind <- type (it's -> frontstore)"
    for spec, fragment in [
        ({"column": "type", "values": ["a"]}, "values must be a table"),
        ({"column": "type", "values": {"a": 1}}, "values.a: expected a non-empty string, got 1"),
        ({"sql": "type", "values": {"a": "b"}}, "values = ... goes with column = ..."),
    ]:
        with pytest.raises(
            ConfigError, match=re.escape(f"m.toml: [db.map] coupons.columns.kind: {fragment}")
        ):
            build_map({"coupons": {"columns": {"kind": spec}}}, source="m.toml")


def test_a_mirrored_column_the_harness_leaves_null_in_a_not_null_app_column_is_named(pg_server):
    """A visit's end is unknown when the visit starts: an app column that is ``NOT NULL``
    would refuse every mirrored session; check names the column and the statement."""
    from db.appcheck import inspect_concepts
    from db.appmap import load_map

    url = create_second_db(pg_server, "own_second_not_null")
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            conn.exec_driver_sql("UPDATE shop.visits SET finished_at = now()")
            conn.exec_driver_sql("ALTER TABLE shop.visits ALTER COLUMN finished_at SET NOT NULL")
        with eng.connect() as conn:
            reports = {r.name: r for r in inspect_concepts(conn, load_map(MAP_FILE))}
        fixes = [(f.short, f.sql) for f in reports["shopping_sessions"].fixes]
        assert fixes == [
            (
                "nullable finished_at",
                'ALTER TABLE "shop"."visits" ALTER COLUMN "finished_at" DROP NOT NULL;',
            )
        ]
        assert reports["shopping_sessions"].status == "missing"  # is_simulated etc. still to add
        assert reports["shopping_session_events"].fixes == []  # detail is filled by the mirror
    finally:
        eng.dispose()
