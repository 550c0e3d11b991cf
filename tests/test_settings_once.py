"""Settings are read once and carried; options are not passed on through ``os.environ``.

* In a Locust process the environment's settings (``db.settings.load_settings``) are read
  once, in ``init`` (``harness/wiring/install.py``), and carried by the runtime
  (``ProcessRuntime.settings``) to the engines, the manifest and the offer engine. A
  ``loadsim`` command reads them at most once (each command module, once).
* No harness module writes ``os.environ``. ``--db-pooler`` overrides the settings' pooler
  mode (``$LOADSIM_DB_POOLER``) in the runtime's settings, and every engine of the process
  is given it; the reference API's subprocess gets it in its own environment (a process
  boundary: the variable its engine reads).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from db.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

ENV_WRITES_ALLOWED: Counter[str] = Counter()


def _calls(tree: ast.AST, name: str) -> int:
    return sum(
        1
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)
    )


def _is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def env_writes(tree: ast.AST) -> int:
    """``os.environ[k] = v``, ``del os.environ[k]`` and ``os.environ.update/setdefault/pop``,
    ``os.putenv``."""
    count = 0
    for n in ast.walk(tree):
        if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store | ast.Del):
            count += _is_os_environ(n.value)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            if _is_os_environ(n.func.value) and n.func.attr in ("update", "setdefault", "pop"):
                count += 1
            elif n.func.attr == "putenv" and getattr(n.func.value, "id", None) == "os":
                count += 1
    return count


def _trees() -> dict[str, ast.AST]:
    files = [ROOT / "locustfile.py", *sorted((ROOT / "harness").rglob("*.py"))]
    return {f.relative_to(ROOT).as_posix(): ast.parse(f.read_text(encoding="utf-8")) for f in files}


def test_a_locust_process_reads_the_settings_once() -> None:
    reads = Counter(
        {rel: n for rel, tree in _trees().items()
         if not rel.startswith("harness/cli/") and (n := _calls(tree, "load_settings"))}
    )  # fmt: skip
    assert reads == Counter({"harness/wiring/install.py": 1})


def test_a_command_reads_them_at_most_once() -> None:
    reads = {
        rel: _calls(tree, "load_settings")
        for rel, tree in _trees().items()
        if rel.startswith("harness/cli/")
    }
    assert max(reads.values()) == 1


def test_no_option_travels_through_os_environ() -> None:
    writes = Counter({rel: n for rel, tree in _trees().items() if (n := env_writes(tree))})
    assert writes == ENV_WRITES_ALLOWED


def test_the_checks_see_what_they_count() -> None:
    tree = ast.parse(
        "import os\n"
        "os.environ['A'] = '1'\n"
        "del os.environ['B']\n"
        "os.environ.update(C='1')\n"
        "os.environ.setdefault('D', '1')\n"
        "os.putenv('E', '1')\n"
        "x = os.environ['F']\n"  # a read: not counted
        "s = load_settings()\n"
        "t = settings.load_settings()\n"
    )
    assert env_writes(tree) == 5
    assert _calls(tree, "load_settings") == 2


def test_db_pooler_overrides_the_settings_without_touching_the_environment(monkeypatch) -> None:
    import os

    from db.settings import load_settings
    from harness.config.options import HarnessOptions

    monkeypatch.setenv("LOADSIM_DB_POOLER", "session")
    opts = HarnessOptions.from_parsed(SimpleNamespace(db_pooler="Transaction"))
    assert os.environ["LOADSIM_DB_POOLER"] == "session"  # checked, not exported
    with pytest.raises(ConfigError, match="--db-pooler / LOADSIM_DB_POOLER 'txn'"):
        HarnessOptions.from_parsed(SimpleNamespace(db_pooler="txn"))
    own = load_settings()
    assert own.db_pooler == "session"
    assert opts.run_settings(own).db_pooler == "transaction"
    assert HarnessOptions().run_settings(own) is own  # no --db-pooler: the environment's
    assert os.environ["LOADSIM_DB_POOLER"] == "session"
    assert own.db_pooler == "session"  # the copy is the run's; the read settings unchanged
