"""Rules about the suite itself (issue 13): CI cannot silently skip the browser, and every
test that starts real locust processes runs in the one ``e2e`` xdist group."""

from __future__ import annotations

import pytest

from tests import test_webui_support as support


def test_missing_chromium_skips_locally_but_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(support, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        support.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and .*no-chromium is not installed"):
        support.require_chromium()


def test_e2e_tests_share_one_xdist_worker(tmp_path):
    """``make test``'s ``-n 2 --dist loadgroup`` really runs every ``e2e`` test on one
    worker (on pytest 9.2 xdist's own suffix is lost — see tests/conftest.py)."""
    import re
    import subprocess
    import sys

    from tests.e2e_support import ROOT

    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    e2e: real locust\n")
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems, pytest_itemcollected\n"
    )
    body = "import time\nimport pytest\n\n"
    for i in range(4):
        body += f"@pytest.mark.e2e\ndef test_e2e_{i}():\n    time.sleep(0.05)\n\n"
        body += f"def test_plain_{i}():\n    time.sleep(0.05)\n\n"
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / name).write_text(body)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-n", "2", "--dist", "loadgroup", "-v",
         "-p", "no:cacheprovider"],
        cwd=tmp_path,  # only xdist is loaded: the other plugins take seconds to import
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
             "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    ran = re.findall(r"\[(gw\d)\] .*PASSED (\S+)", r.stdout)
    e2e_workers = {gw for gw, node in ran if "test_e2e_" in node}
    assert len([n for _, n in ran if "test_e2e_" in n]) == 8, r.stdout[-2000:]
    assert all(n.endswith("@e2e") for _, n in ran if "test_e2e_" in n)
    assert len(e2e_workers) == 1, r.stdout[-2000:]


def test_every_module_starting_locust_is_marked_e2e():
    """A module that starts real locust processes must be in the e2e group (else two
    locust runs can compete for the 2 cores and timing assertions flake)."""
    import re
    from pathlib import Path

    here = Path(__file__).resolve()
    call = re.compile(r"(?<!def )\b(run_locust|start_locust|running_locust|locust_cmd)\(")
    unmarked = [
        p.name
        for p in sorted(here.parent.glob("test_*.py"))
        if p != here
        and "def test_" in (text := p.read_text())
        and call.search(text)
        and "pytest.mark.e2e" not in text
    ]
    assert unmarked == []
