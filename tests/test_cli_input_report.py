"""``loadsim report`` on a directory that is not a run (no ``manifest.json``, which the
harness writes as it creates every run directory) is one line, exit 2, and writes nothing
into that directory; a run with only its manifest (killed early) still rebuilds."""

from __future__ import annotations

from pathlib import Path

from harness.cli.app import main
from tests.test_reports_support import write_manifest


def _listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def test_report_on_a_plain_directory_is_refused(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"x")
    code = main(["report", str(folder), "--runs-dir", str(tmp_path / "runs"), "--no-db"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"loadsim: error: {folder}: not a run directory (no manifest.json)\n"
    assert _listing(folder) == ["cat.jpg"]


def test_report_on_a_run_id_without_manifest_is_refused(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    (runs / "notarun").mkdir(parents=True)
    code = main(["report", "notarun", "--runs-dir", str(runs), "--no-db"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err == f"loadsim: error: {runs / 'notarun'}: not a run directory (no manifest.json)\n"
    assert "Traceback" not in out + err
    assert _listing(runs / "notarun") == []


def test_a_run_with_only_its_manifest_still_rebuilds(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    write_manifest(runs / "killed", mock_db=True)
    assert main(["report", "killed", "--runs-dir", str(runs), "--no-db"]) == 0
    assert (runs / "killed" / "summary.json").is_file()


def test_report_on_a_relative_plain_directory_is_refused(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("stuff").mkdir()
    assert main(["report", "stuff", "--no-db"]) == 2
    assert capsys.readouterr().err == (
        "loadsim: error: stuff: not a run directory (no manifest.json)\n"
    )
    assert _listing(tmp_path / "stuff") == [] and not Path("runs").exists()
