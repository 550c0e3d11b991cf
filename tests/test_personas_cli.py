"""``loadsim personas …`` and ``loadsim catalog seed`` end to end on a real embedded Postgres.

The acceptance checks run the real ``loadsim`` process; the rest call ``harness.cli.main``
in-process (same code path, without paying a Python start-up per case).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from openpyxl import Workbook
from sqlalchemy import create_engine, text

from db import migrate
from db.engine import normalize_url
from harness.cli import build_parser, main
from personas import SAMPLE_PATH
from personas.model import PERSONA_FIELDS
from personas.reader import read_personas
from personas.sample import generate_personas, write_workbook


def _loadsim(*args: str, url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip


def _rows(url: str) -> dict[str, int]:
    eng = create_engine(normalize_url(url))
    try:
        with eng.connect() as conn:
            return {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("users", "agents", "stores", "products", "coupons")
            }
    finally:
        eng.dispose()


@pytest.fixture(scope="module")
def cli_url(pg_server) -> str:
    url = pg_server.create_database("test_personas_cli", drop_first=True)
    migrate.upgrade(url)
    return url


@pytest.fixture()
def env_url(settings_env, cli_url):
    settings_env.setenv("DATABASE_URL", cli_url)
    yield cli_url
    eng = create_engine(normalize_url(cli_url))
    with eng.begin() as conn:
        conn.execute(
            text("TRUNCATE users, agents, stores, products, coupons RESTART IDENTITY CASCADE")
        )
    eng.dispose()


def _bad_workbook(path) -> None:
    good = [p.model_dump(mode="json") for p in generate_personas(4, seed=2)]
    good[0]["age"] = 17
    good[1]["channel"] = "telegraph"
    good[2]["cart_abandonment_rate"] = "abc"
    good[3]["persona_id"] = good[0]["persona_id"]
    wb = Workbook()
    ws = wb.active
    ws.title = "Personas"
    ws.append(list(PERSONA_FIELDS))
    for g in good:
        ws.append(
            [", ".join(v) if isinstance(v, list) else v for v in (g[f] for f in PERSONA_FIELDS)]
        )
    wb.save(path)


def test_bad_workbook_exit_2_one_line_per_cell_and_nothing_written(tmp_path, cli_url, env_url):
    path = tmp_path / "bad.xlsx"
    _bad_workbook(path)
    r = _loadsim("personas", "seed", str(path), url=cli_url)
    assert r.returncode == 2, r.stderr
    cell_lines = [line for line in r.stderr.splitlines() if line.startswith("Personas!")]
    assert cell_lines == [
        "Personas!age row 2: out of range: 17 (allowed 18–90)",
        "Personas!channel row 3: unknown value 'telegraph' (expected one of: voice, app, web)",
        "Personas!cart_abandonment_rate row 4: expected a number, got 'abc'",
        "Personas!persona_id row 5: duplicate persona_id 'P0001' (first at row 2)",
    ]
    assert "4 problems" in r.stderr
    assert _rows(cli_url)["users"] == 0 and _rows(cli_url)["agents"] == 0
    # validate reports the same lines and exit code, never touching the database
    v = _loadsim("personas", "validate", str(path), url="postgresql://nobody@127.0.0.1:9/none")
    assert v.returncode == 2
    assert [line for line in v.stderr.splitlines() if line.startswith("Personas!")] == cell_lines


def test_shipped_sample_and_catalog_pass_db_check_and_reseed_is_stable(cli_url, env_url):
    for args in (("catalog", "seed"), ("personas", "seed", str(SAMPLE_PATH))):
        r = _loadsim(*args, url=cli_url)
        assert r.returncode == 0, r.stderr
    assert "agents: 372 (372 created" in r.stdout
    check = _loadsim("db", "check", url=cli_url)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "[FAIL]" not in check.stdout
    before = _rows(cli_url)
    assert before["agents"] == 372 and before["users"] == 372
    assert before["products"] >= 2000 and before["coupons"] >= 360
    # seeding again (in-process) leaves the same counts
    assert main(["catalog", "seed"]) == 0
    assert main(["personas", "seed", str(SAMPLE_PATH)]) == 0
    assert _rows(cli_url) == before


def test_seed_test_n_and_warnings(tmp_path, env_url, capsys):
    path = write_workbook(generate_personas(12, seed=9), tmp_path / "twelve.xlsx")
    assert main(["personas", "seed", str(path), "--test", "5"]) == 0
    captured = capsys.readouterr()
    assert "seeded 5 personas" in captured.out and "first 5 of 12" in captured.out
    # no catalog yet: the seed says which preferred stores are missing
    assert "preferred_store codes are not in the stores table" in captured.err
    assert _rows(env_url)["agents"] == 5
    assert main(["catalog", "seed"]) == 0
    assert main(["personas", "seed", str(path)]) == 0
    captured = capsys.readouterr()
    assert "agents: 12 (7 created, 0 updated, 5 unchanged)" in captured.out
    assert "not in the stores table" not in captured.err
    assert _rows(env_url)["agents"] == 12


def test_seed_into_unmigrated_database_says_run_db_upgrade(
    pg_server, settings_env, tmp_path, capsys
):
    url = pg_server.create_database("test_personas_unmigrated", drop_first=True)
    settings_env.setenv("DATABASE_URL", url)
    assert main(["personas", "seed", str(SAMPLE_PATH)]) == 2
    assert "run `loadsim db upgrade` first" in capsys.readouterr().err
    assert main(["catalog", "seed"]) == 2


def test_validate_prints_warnings_and_count(tmp_path, settings_env, capsys):
    personas = generate_personas(3, seed=4)
    wb = Workbook()
    ws = wb.active
    ws.title = "personas"
    ws.append([*PERSONA_FIELDS, "comment"])
    for p in personas:
        d = p.model_dump(mode="json")
        ws.append(
            [", ".join(v) if isinstance(v, list) else v for v in (d[f] for f in PERSONA_FIELDS)]
            + ["x"]
        )
    wb.save(tmp_path / "w.xlsx")
    assert main(["personas", "validate", str(tmp_path / "w.xlsx")]) == 0
    captured = capsys.readouterr()
    assert "3 personas, all 28 attributes valid" in captured.out
    assert "warning: personas column AC 'comment': not a persona attribute; ignored" in captured.err


def test_sample_command_writes_a_valid_workbook(tmp_path, capsys):
    out = tmp_path / "pop.xlsx"
    assert main(["personas", "sample", "-n", "25", "--seed", "3", "-o", str(out)]) == 0
    assert read_personas(out) == generate_personas(25, seed=3)
    assert main(["personas", "sample", "-n", "25", "-o", str(tmp_path / "pop.txt")]) == 2
    assert "use a .xlsx or .csv" in capsys.readouterr().err


def test_every_new_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for group, actions in (("personas", ("validate", "seed", "sample")), ("catalog", ("seed",))):
        gp = sub.choices[group]
        gsub = next(a for a in gp._actions if a.dest.endswith("_command"))
        assert set(actions) <= set(gsub.choices)
        for name in actions:
            assert "usage:" in gsub.choices[name].format_help()
