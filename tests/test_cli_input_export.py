"""``loadsim export-events`` on a reachable database that was never migrated is one line
naming what to run, exit 2, no psycopg UndefinedTable traceback and no file written."""

from __future__ import annotations

from pathlib import Path

from harness.cli.app import main


def test_export_on_a_database_without_harness_tables(
    tmp_path: Path, pg_server, settings_env, capsys
) -> None:
    url = pg_server.create_database("test_cli_input_export", drop_first=True)  # not migrated
    settings_env.setenv("DATABASE_URL", url)
    out = tmp_path / "events.csv"
    assert main(["export-events", "--run", "r1", "-o", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("loadsim: error: the database ") and err.count("\n") == 1
    assert err.endswith(" has no harness tables: run 'loadsim db upgrade' first\n")
    assert "Traceback" not in captured.out + err
    assert not out.exists() and not list(tmp_path.iterdir())
