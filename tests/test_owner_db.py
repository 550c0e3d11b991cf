"""An existing app database (an owner-like app schema, with real customers' rows):
``loadsim db check`` / ``upgrade`` / ``adopt`` as real processes, and what they leave.

Every test runs on the project's own owner schema; those where the schema's shape matters
also run on the independent counterpart beside the project (tests/owner_db_support.py).

``check`` prints the concept table and exits 2 before adoption; ``--sql``
prints DDL and changes nothing; ``upgrade`` never creates, alters or drops an app table;
``adopt`` adds only the listed nullable columns; the harness's own schema passes
``alembic check``.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from db import migrate
from db.appmap import CONCEPTS
from tests.owner_db_support import (
    BOTH,
    MAP_FILE,
    PROJECT,
    app_tables,
    create_owner_db,
    loadsim,
    real_rows_checksum,
    schema_snapshot,
)


@pytest.fixture()
def owner_db(pg_server, request):
    """``(url, engine)`` of a fresh owner database; ``request.param`` (through
    ``@both``) picks the schema, the project's own by default."""
    schema = getattr(request, "param", PROJECT)
    url = create_owner_db(pg_server, "own_" + request.node.originalname[:40], schema)
    eng = create_engine(url)
    yield url, eng
    eng.dispose()


both = pytest.mark.parametrize("owner_db", BOTH, indirect=True)
"""On the project's owner schema and on the independent counterpart."""


def _schema(request) -> object:
    return request.node.callspec.params.get("owner_db", PROJECT)


def _no_traceback(r) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]


@both
def test_check_before_adoption_prints_every_concept_and_exits_2(owner_db, request):
    url, _ = owner_db
    schema = _schema(request)
    r = loadsim("db", "check", "--map", str(MAP_FILE), url=url)
    _no_traceback(r)
    assert r.returncode == 2
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line.split()}
    for concept in CONCEPTS:
        assert concept in rows, concept
    assert "found" in rows["users"] and "found" in rows["coupons"]
    assert "missing" in rows["shopping_sessions"]  # run_id / is_replay: adoption adds them
    last = r.stderr.strip().splitlines()[-1]
    assert "shopping_sessions.run_id" in last and "shopping_sessions.is_replay" in last
    assert "harness schema loadsim" in last and "adopted" in last
    # The owner's pre-flight items follow the concept table, read through the map.
    cb = schema.category_brand_coupons
    assert f"[FAIL] category/brand coupons: {cb} (need >= 150)" in r.stdout
    counts = f"{schema.products} products in {schema.categories} categories"
    assert f"products across categories: {counts}" in r.stdout


@both
def test_check_with_the_default_map_names_wrong_types_and_missing_columns(owner_db):
    url, _ = owner_db
    r = loadsim("db", "check", url=url)  # today's schema vs the owner's: many mismatches
    _no_traceback(r)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    for item in ("users.id", "agents.persona_id", "products.name", "coupons.kind"):
        assert item in last, last
    assert "wrong type id: uuid, expected int" in r.stdout
    assert "skipped: concept 'coupons' is not usable" in r.stdout


@both
def test_sql_options_print_ddl_and_change_nothing(owner_db):
    url, eng = owner_db
    before_schema = schema_snapshot(eng)
    tables = app_tables(eng)
    before_rows = real_rows_checksum(eng, tables)
    up = loadsim("db", "upgrade", "--sql", url=url)
    _no_traceback(up)
    assert up.returncode == 0, up.stderr
    assert "CREATE SCHEMA IF NOT EXISTS loadsim" in up.stdout
    assert "CREATE TABLE loadsim.simulation_runs" in up.stdout
    assert "CREATE TABLE loadsim.alembic_version" in up.stdout  # its own version table
    altered = [ln for ln in up.stdout.splitlines() if ln.startswith("ALTER TABLE")]
    assert all(ln.startswith("ALTER TABLE loadsim.") for ln in altered), (
        altered
    )  # never an app table
    ad = loadsim("db", "adopt", "--map", str(MAP_FILE), "--sql", url=url)
    _no_traceback(ad)
    assert ad.returncode == 0, ad.stderr
    additive = [  # on app tables (the harness's own loadsim tables may be migrated too)
        ln for ln in ad.stdout.splitlines()
        if ln.startswith("ALTER TABLE") and not ln.startswith("ALTER TABLE loadsim.")
    ]  # fmt: skip
    assert additive == [
        'ALTER TABLE "public"."shopping_sessions" ADD COLUMN IF NOT EXISTS "run_id" text NULL;',
        'ALTER TABLE "public"."shopping_sessions" ADD COLUMN IF NOT EXISTS "is_replay" boolean NULL;',
    ]
    assert 'CREATE VIEW loadsim."users"' in ad.stdout
    assert "mirror_session_ins" in ad.stdout
    assert schema_snapshot(eng) == before_schema  # no loadsim schema, nothing altered
    assert real_rows_checksum(eng, tables) == before_rows


@both
def test_upgrade_installs_only_the_harness_schema_and_alembic_check_is_clean(owner_db):
    url, eng = owner_db
    before = schema_snapshot(eng)
    tables = app_tables(eng)
    rows = real_rows_checksum(eng, tables)
    r = loadsim("db", "upgrade", url=url)
    _no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "no app table touched" in r.stdout and "loadsim db adopt" in r.stdout
    after = schema_snapshot(eng)
    assert after["schemas"] == sorted([*before["schemas"], ("loadsim",)])
    for part in ("columns", "constraints", "indexes", "triggers"):
        assert after[part] == before[part], part
    assert real_rows_checksum(eng, tables) == rows
    with eng.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM loadsim.alembic_version")).scalar()
        assert conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is None
    assert version == migrate.harness_head_revision()
    migrate.harness_check(url)  # raises AutogenerateDiffsDetected when not clean
    again = loadsim("db", "upgrade", url=url)  # idempotent
    assert again.returncode == 0, again.stderr


@both
def test_adopt_adds_only_the_listed_columns_then_check_finds_every_concept(owner_db, request):
    url, eng = owner_db
    before = schema_snapshot(eng)
    tables = app_tables(eng)
    rows = real_rows_checksum(eng, tables)
    r = loadsim("db", "adopt", "--map", str(MAP_FILE), url=url)
    _no_traceback(r)
    assert r.returncode == 0, r.stderr
    after = schema_snapshot(eng)
    added = sorted(set(after["columns"]) - set(before["columns"]))
    assert added == [
        ("shopping_sessions", "is_replay", "boolean", "YES", None),
        ("shopping_sessions", "run_id", "text", "YES", None),
    ]
    assert set(before["columns"]) <= set(after["columns"])
    for part in ("constraints", "indexes", "triggers"):
        assert after[part] == before[part], part
    assert real_rows_checksum(eng, tables) == rows
    # After adoption the stored map is used: no --map needed; every concept is found.
    ck = loadsim("db", "check", url=url)
    _no_traceback(ck)
    assert "missing or wrong in the database" not in ck.stderr
    assert "[PASS] adopted" in ck.stdout and "[PASS] harness schema loadsim" in ck.stdout
    assert ck.returncode == 2  # the fixture's catalog is below the owner's minimums
    migrate.harness_check(url)
    st = loadsim("db", "status", url=url)  # every table as the harness sees it, via the map
    assert st.returncode == 0, st.stderr
    head = migrate.harness_head_revision()
    assert f"harness schema loadsim: {head}" in st.stdout and "missing" not in st.stdout
    users = next(line for line in st.stdout.splitlines() if line.startswith("users "))
    assert users.split()[-1] == str(_schema(request).users)  # real customers, via the view
    # The owner's catalog has no simulated marker: the harness's catalog is not seeded there.
    cat = loadsim("catalog", "seed", url=url)
    _no_traceback(cat)
    assert cat.returncode == 2 and "could not be told from your real ones" in cat.stderr
    assert real_rows_checksum(eng, tables) == rows


def test_a_map_that_does_not_fit_is_refused_and_nothing_changes(owner_db, tmp_path):
    url, eng = owner_db
    bad = tmp_path / "bad.toml"
    bad.write_text(MAP_FILE.read_text().replace('name = "title"', 'name = "product_title"'))
    before = schema_snapshot(eng)
    r = loadsim("db", "adopt", "--map", str(bad), url=url)
    _no_traceback(r)
    assert r.returncode == 2
    assert "products.name <- product_title: missing" in r.stderr
    assert "nothing was changed" in r.stderr
    assert schema_snapshot(eng) == before


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[db.map.widgets]\ntable = 'w'\n", "[db.map] widgets: unknown concept"),
        ("[db.map.users.columns]\nnick = 'x'\n", "users.columns.nick: unknown column"),
        ("[db.map.users]\nid_type = 'int128'\n", "users.id_type"),
        ("[db.map.agents]\nid_type = 'uuid'\n", "uuid ids are supported for users"),
        ("[db.map.users.columns]\nemail = 'e; drop'\n", "not a plain column name"),
        ("[db.map\n", "not valid TOML"),
        ("[personas.columns]\nage = 'Age'\n", "no [db.map] section"),
    ],
)
def test_a_bad_map_file_is_one_line_naming_file_and_key(owner_db, tmp_path, content, fragment):
    url, _ = owner_db
    f = tmp_path / "m.toml"
    f.write_text(content)
    r = loadsim("db", "check", "--map", str(f), url=url)
    _no_traceback(r)
    assert r.returncode == 2
    err = [line for line in r.stderr.splitlines() if line.startswith("loadsim")]
    assert len(err) == 1 and str(f) in err[0] and fragment in err[0], r.stderr


def test_embedded_default_database_checks_clean_concepts(pg_server):
    """The default map on a project-made database: every concept found, nothing to adopt."""
    url = pg_server.create_database("own_default", drop_first=True)
    assert loadsim("db", "upgrade", url=url).returncode == 0
    r = loadsim("db", "check", url=url)
    _no_traceback(r)
    assert "missing or wrong in the database" not in r.stderr
    ad = loadsim("db", "adopt", "--sql", url=url)
    assert ad.returncode == 2 and "nothing to adopt" in ad.stderr
    # Seeded as the embedded default seeds itself: all is well, exit 0.
    from personas import SAMPLE_PATH

    assert loadsim("catalog", "seed", url=url).returncode == 0
    assert loadsim("personas", "seed", "--test", "5", str(SAMPLE_PATH), url=url).returncode == 0
    ok = loadsim("db", "check", url=url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "[FAIL]" not in ok.stdout and "all 15 concepts found" in ok.stdout
    with create_engine(url).connect() as conn:
        assert conn.execute(text("SELECT to_regnamespace('loadsim')")).scalar() is None


def test_search_path_is_set_per_transaction_only_where_the_harness_schema_exists(owner_db, engine):
    """The begin listener: ``loadsim, public`` on a database with schema loadsim; nothing
    (no extra statement) on the embedded default."""
    from db.engine import create_db_engine

    url, _ = owner_db
    with engine.begin() as conn:  # the embedded default's migrated test database
        assert conn.execute(text("SHOW search_path")).scalar() == '"$user", public'
    assert loadsim("db", "upgrade", url=url).returncode == 0
    eng = create_db_engine(url, total_connections=2)
    try:
        for _ in range(2):  # every transaction, also on a reused pooled connection
            with eng.begin() as conn:
                assert conn.execute(text("SHOW search_path")).scalar() == "loadsim, public"
                schema = conn.execute(
                    text("SELECT relnamespace::regnamespace::text FROM pg_class"
                         " WHERE oid = to_regclass('simulation_runs')")
                ).scalar()  # fmt: skip
                assert schema == "loadsim"
    finally:
        eng.dispose()


def test_the_apps_own_alembic_history_is_left_alone(owner_db):
    """An app managed by its own alembic keeps ``public.alembic_version`` as it was; the
    harness's history lives in ``loadsim.alembic_version``."""
    url, eng = owner_db
    with eng.begin() as conn:  # what the app's own migrations would have left
        conn.exec_driver_sql(
            "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
            "INSERT INTO alembic_version VALUES ('app_008_simulation');"
        )
    for args in (("db", "upgrade"), ("db", "adopt", "--map", str(MAP_FILE)), ("db", "upgrade")):
        r = loadsim(*args, url=url)
        _no_traceback(r)
        assert r.returncode == 0, (args, r.stderr)
    with eng.connect() as conn:
        app = conn.execute(text("SELECT version_num FROM public.alembic_version")).scalars().all()
        ours = conn.execute(text("SELECT version_num FROM loadsim.alembic_version")).scalar()
    assert app == ["app_008_simulation"]
    assert ours == migrate.harness_head_revision()


def test_adopt_behind_a_busy_app_table_gives_up_in_seconds_and_applies_nothing(owner_db):
    """A long transaction of the app holds its sessions table: adoption waits at most its
    lock timeout, then exits 2 with one line; the app's schema is as it was."""
    import time

    url, eng = owner_db
    assert loadsim("db", "upgrade", url=url).returncode == 0
    before = schema_snapshot(eng)
    with eng.connect() as app:  # the app, mid-transaction, reading its sessions
        app.execute(text("LOCK TABLE public.shopping_sessions IN ACCESS SHARE MODE"))
        t0 = time.monotonic()
        r = loadsim("db", "adopt", "--map", str(MAP_FILE), url=url)
        waited = time.monotonic() - t0
        app.rollback()
    _no_traceback(r)
    assert r.returncode == 2
    assert "lock timeout" in r.stderr and "nothing was applied" in r.stderr
    assert waited < 30
    assert schema_snapshot(eng) == before
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM loadsim.adoption")).scalar() == 0
