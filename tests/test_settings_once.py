"""Settings are read once and carried; options are not passed on through ``os.environ``.

* In a Locust process the environment's settings (``db.settings.load_settings``) are read
  once, in ``init`` (``harness/wiring/install.py``), and carried by the runtime
  (``ProcessRuntime.settings``) to the engines, the manifest and the offer engine. A
  ``loadsim`` command reads them at most once (each command module, once).
* No harness module writes ``os.environ`` for another part of the same process. The one
  write left is ``--db-pooler`` → ``$LOADSIM_DB_POOLER``: every engine made without an
  explicit mode resolves it from there (``db.engine.resolve_pooler``) — the database checks
  of ``db.connect`` and ``db.adopt`` in this process, and the reference API's subprocess (a
  process boundary) — and the owner may set it directly.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ENV_WRITES_ALLOWED = Counter({"harness/config/options.py": 2})
"""``os.environ[POOLER_ENV] = …`` in ``HarnessOptions.from_parsed`` and ``export_env``."""


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
