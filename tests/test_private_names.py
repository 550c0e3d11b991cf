"""No module of the harness reads another's ``_private`` names.

A ``_name`` is private to the module that defines it: a part that needs something of the
director's gets it at construction (``harness.control.finish.RunEnd`` takes the clock it reads
(an ``EndClock``), the hour book, the live workers, a "stopped" test and this process's users
still owing — not the director nor the whole runtime). The check: every
``x._name`` (and ``getattr(x, "_name")``) in ``harness/`` and ``locustfile.py`` where ``x`` is
not ``self``/``cls`` and the module's own classes do not define ``_name``.

None is left. Nor does any class of ``harness/control`` hold the director: the hour book,
the lease broker, the run guard, the offer cycles and the run's end are each built with
what they use (a small protocol of the runtime's fields each reads, the run's state, the hour
book, a broadcast…).
Locust's private names have their own module and test (``harness/config/locust_compat.py``,
``tests/test_locust_compat.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ALLOWED_EVERYWHERE = {"_SubParsersAction"}
"""argparse's type of ``add_subparsers()`` (typeshed's name: annotations only)."""
PUBLIC_UNDERSCORE = {("os", "_exit")}
"""Documented public API that starts with an underscore."""
OWN_MODULE = "harness/config/locust_compat.py"


def _own(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ClassDef):
            for item in n.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(item.name)
                elif isinstance(item, ast.Assign | ast.AnnAssign):
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif (
            isinstance(n, ast.Attribute)
            and isinstance(n.ctx, ast.Store)
            and isinstance(n.value, ast.Name)
            and n.value.id == "self"
        ):
            names.add(n.attr)
    return names


def _private(name: object) -> bool:
    return isinstance(name, str) and name.startswith("_") and not name.startswith("__")


def foreign_private_names(source: str) -> set[str]:
    """The ``_private`` names one module reads off objects that are not its own."""
    tree = ast.parse(source)
    own, found = _own(tree), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and _private(n.attr):
            base = n.value.id if isinstance(n.value, ast.Name) else None
            if base in ("self", "cls") or (base, n.attr) in PUBLIC_UNDERSCORE:
                continue
            found.add(n.attr)
        elif (
            isinstance(n, ast.Call)
            and getattr(n.func, "id", None) in ("getattr", "hasattr")
            and len(n.args) >= 2
            and isinstance(n.args[1], ast.Constant)
            and _private(n.args[1].value)
        ):
            found.add(str(n.args[1].value))
    return found - own - ALLOWED_EVERYWHERE


def test_no_part_reads_another_modules_private_names() -> None:
    files = [ROOT / "locustfile.py", *sorted((ROOT / "harness").rglob("*.py"))]
    found = {}
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        if rel == OWN_MODULE:
            continue
        names = foreign_private_names(f.read_text(encoding="utf-8"))
        if names:
            found[rel] = names
    assert found == {}


def director_back_pointers(source: str) -> set[str]:
    """``Class.name`` for each ``self.<name>`` a class stores that is, or is named, the
    director (``self.d = …``, ``self.director = …``, ``self.x = director``)."""
    found = set()
    for cls in ast.walk(ast.parse(source)):
        if not isinstance(cls, ast.ClassDef):
            continue
        for fn in cls.body:
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for n in ast.walk(fn):
                targets = n.targets if isinstance(n, ast.Assign) else (
                    [n.target] if isinstance(n, ast.AnnAssign) else []
                )  # fmt: skip
                for t in targets:
                    if not (
                        isinstance(t, ast.Attribute)
                        and isinstance(t.value, ast.Name)
                        and t.value.id == "self"
                    ):
                        continue
                    value = getattr(n, "value", None)
                    named = t.attr in ("d", "director")
                    if named or (isinstance(value, ast.Name) and value.id == "director"):
                        found.add(f"{cls.name}.{t.attr}")
    return found


def test_no_part_of_the_director_holds_it() -> None:
    found = {}
    for f in sorted((ROOT / "harness/control").glob("*.py")):
        names = director_back_pointers(f.read_text(encoding="utf-8"))
        if names:
            found[f.relative_to(ROOT).as_posix()] = names
    assert found == {}


def test_the_back_pointer_check_sees_one() -> None:
    src = (
        "class Part:\n"
        "    def __init__(self, director, pool):\n"
        "        self.owner = director\n"
        "        self.pool = pool\n"
        "class Other:\n"
        "    def __init__(self, rt):\n"
        "        self.director = rt.director\n"
        "        self.rt = rt\n"
    )
    assert director_back_pointers(src) == {"Part.owner", "Other.director"}


def test_the_run_end_holds_no_director() -> None:
    source = (ROOT / "harness/control/finish.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RunEnd")
    assert "director" not in ast.unparse(cls)
    assert not any(isinstance(n, ast.Attribute) and n.attr == "d" for n in ast.walk(cls))


def test_the_check_sees_a_private_name_of_another() -> None:
    src = (
        "class A:\n"
        "    def __init__(self, d):\n"
        "        self._mine = 1\n"
        "        d._theirs()\n"
        "        getattr(d, '_flag', False)\n"
        "        other._mine\n"  # the module's own name: not counted
        "        os._exit(0)\n"
    )
    assert foreign_private_names(src) == {"_theirs", "_flag"}
