"""Rules about the suite itself: CI cannot silently skip the browser, and every
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


@pytest.mark.parametrize("groups", [1, 2])
def test_each_e2e_group_runs_on_one_xdist_worker(tmp_path, groups):
    """``make test``'s ``-n 2 --dist loadgroup`` really runs every ``e2e`` test of a group
    on one worker (on pytest 9.2 xdist's own suffix is lost — see tests/conftest.py): the
    one group with ``LOADSIM_E2E_GROUPS=1``, each of the two of ``E2E_SPLIT`` by default."""
    import re
    import subprocess
    import sys

    from tests.e2e_support import ROOT

    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    e2e: real locust\n")
    (tmp_path / "conftest.py").write_text(
        "import tests.conftest as c\n"
        "c.E2E_SPLIT = {'test_a.py': 'e2e-a', 'test_b.py': 'e2e-b'}\n"
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
             "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "LOADSIM_E2E_GROUPS": str(groups)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    ran = re.findall(r"\[(gw\d)\] .*PASSED (\S+)", r.stdout)
    e2e = [(gw, node) for gw, node in ran if "test_e2e_" in node]
    assert len(e2e) == 8, r.stdout[-2000:]
    assert not [n for _, n in ran if "test_plain_" in n and "@" in n]  # no group for the rest
    want = {"test_a.py": "@e2e", "test_b.py": "@e2e"}
    if groups == 2:
        want = {"test_a.py": "@e2e-a", "test_b.py": "@e2e-b"}
    by_group: dict[str, set[str]] = {}
    for gw, node in e2e:
        module, _, rest = node.partition("::")
        assert rest.endswith(want[module]), node
        by_group.setdefault(want[module], set()).add(gw)
    assert len(by_group) == (1 if groups == 1 else 2), by_group
    assert all(len(workers) == 1 for workers in by_group.values()), r.stdout[-2000:]


def test_every_e2e_module_has_a_group_in_the_split():
    """The split (three groups, ``make test``'s ``-n 3``) names every module with an ``e2e``
    test, so a new module is placed on purpose (by its measured time), not by default."""
    from pathlib import Path

    from tests.conftest import E2E_SPLIT

    here = Path(__file__).resolve().parent
    marked = {
        p.name
        for p in here.glob("test_*.py")
        if p.name != Path(__file__).name and "pytest.mark.e2e" in p.read_text()
    }
    assert sorted(marked - set(E2E_SPLIT)) == []
    assert sorted(set(E2E_SPLIT) - marked) == []  # no stale names
    assert set(E2E_SPLIT.values()) == {"e2e-a", "e2e-b", "e2e-c"}  # one per worker of -n 3


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


def test_a_missing_owner_schema_skips_locally_but_fails_under_ci(monkeypatch, tmp_path):
    """The owner schema beside the project (``../shared/fixtures``): a fresh clone skips the
    tests that need it with one line naming the file; under ``CI=true`` they fail."""
    import dataclasses

    from tests import owner_db_support as owner

    gone = dataclasses.replace(owner.SHARED, file=tmp_path / "nowhere" / "owner_app_schema.sql")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"nowhere/owner_app_schema.sql is missing"):
        gone.sql_path  # noqa: B018 - the property is the check
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true and .*nowhere/owner_app_schema.sql"):
        gone.sql_path  # noqa: B018
    assert owner.PROJECT.sql_path.is_file()  # the project's own schema is always there
