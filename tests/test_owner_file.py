"""The owner's one file has one owner: ``db.owner_file`` locates it
(explicit path > ``$LOADSIM_MAP`` > ``$LOADSIM_DB_MAP``) and parses it, for every section's
reader; a missing or broken file is one line naming the file (and the line), exit 2."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import db
import harness
import personas
import reference_api
from db import owner_file
from db.appmap import load_map
from db.errors import ConfigError
from harness.config.routes import load_routes
from personas.columns import load_column_map

SAMPLE = Path(personas.__file__).parent / "data" / "sample_personas.xlsx"
ENV_VARS = ("LOADSIM_MAP", "LOADSIM_DB_MAP")


@pytest.fixture()
def no_env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _file(tmp_path: Path, name: str, health: str) -> Path:
    p = tmp_path / name
    p.write_text(
        f'[routes]\nhealth = "{health}"\n'
        f'[personas.columns]\n"{name}" = "age"\n'
        "[db.map.products.columns]\nname = 'title'\n"
    )
    return p


def test_precedence_explicit_then_loadsim_map_then_loadsim_db_map(tmp_path, no_env):
    explicit, first, fallback = (_file(tmp_path, n, f"/{n}") for n in ("a", "b", "c"))
    assert owner_file.locate() is None
    assert owner_file.load().path is None and not owner_file.load().has("routes")
    no_env.setenv("LOADSIM_DB_MAP", str(fallback))
    assert owner_file.locate() == fallback
    no_env.setenv("LOADSIM_MAP", "")  # set but empty: not a file name
    assert owner_file.locate() == fallback
    no_env.setenv("LOADSIM_MAP", str(first))
    assert owner_file.locate() == first
    assert owner_file.locate(explicit) == owner_file.locate(str(explicit)) == explicit
    # Every section's reader finds the same file by the same rule.
    assert load_routes().path("health") == "/b"
    assert load_column_map().attribute("b") == "age"
    assert load_routes(explicit).path("health") == "/a"
    assert load_column_map(explicit).attribute("a") == "age"
    assert owner_file.load().named_by == "$LOADSIM_MAP"
    assert owner_file.load(explicit).named_by == ""


def test_sections_are_returned_as_written(tmp_path):
    f = owner_file.read(_file(tmp_path, "x", "/ping"))
    assert f.section("routes") == {"health": "/ping"}
    assert f.section("db.map.products.columns") == {"name": "title"}
    assert f.has("personas.columns") and not f.has("personas.scales")
    assert f.section("db.map.users") is None
    assert load_map(f.path).concepts["products"].columns["name"].column == "title"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[routes\n", "not valid TOML at line 1, column 8: expected ']' at the end of a table"),
        (
            '[routes]\nhealth = "/h"\nwallet = \n',
            "not valid TOML at line 3, column 10: invalid value",
        ),
        ('[routes]\nhealth = "/h', "not valid TOML at the end of the file: unterminated string"),
        ("db = 1\n", "[db] must be a table"),
    ],
)
def test_a_broken_file_is_one_line_naming_the_file_and_line(tmp_path, content, expected):
    p = tmp_path / "owner.toml"
    p.write_text(content)
    with pytest.raises(ConfigError) as info:
        owner_file.read(p).section("db.map")
    msg = str(info.value)
    assert msg.startswith(f"{p}: ") and expected in msg and "\n" not in msg, msg


def test_missing_and_unreadable_files_name_how_they_were_found(tmp_path, no_env):
    with pytest.raises(ConfigError, match=rf"^{tmp_path}/nope.toml: map file not found$"):
        owner_file.load(tmp_path / "nope.toml")
    no_env.setenv("LOADSIM_DB_MAP", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError) as info:
        load_routes()
    assert str(info.value) == f"{tmp_path}/gone.toml: map file not found (named by $LOADSIM_DB_MAP)"
    with pytest.raises(ConfigError, match="cannot read map file: Is a directory"):
        owner_file.read(tmp_path)
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="map file is not UTF-8 text"):
        owner_file.read(tmp_path / "latin1.toml")


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ENV_VARS} | env
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True, text=True, env=full, timeout=120,
    )  # fmt: skip


def test_the_cli_says_one_line_and_exits_2(tmp_path):
    missing = tmp_path / "missing.toml"
    r = _cli("personas", "validate", str(SAMPLE), LOADSIM_MAP=str(missing))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"loadsim: error: {missing}: map file not found (named by $LOADSIM_MAP)"
    ]
    broken = tmp_path / "broken.toml"
    broken.write_text('[personas.columns]\n"Age" = "age"\n\n[routes\n')
    r = _cli("personas", "validate", str(SAMPLE), "--map", str(broken))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"loadsim: error: {broken}: not valid TOML at line 4, column 8: "
        "expected ']' at the end of a table declaration"
    ]


# ------------------------------------------------------------------ one owner, by import


def _py_files() -> list[Path]:
    roots = [Path(m.__file__).parent for m in (db, harness, personas, reference_api)]
    return sorted(p for r in roots for p in r.rglob("*.py"))


def _imports_and_names(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    mods: set[str] = set()
    strings: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # os.environ.get("X") / os.getenv("X"): the lookups a second resolver would make
            if node.func.attr in ("get", "getenv") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    strings.add(first.value)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if isinstance(node.slice.value, str):
                strings.add(node.slice.value)
    return mods, strings


def test_only_db_owner_file_parses_toml_or_looks_the_file_up():
    home = Path(owner_file.__file__)
    offenders = []
    for path in _py_files():
        if path == home:
            continue
        mods, strings = _imports_and_names(path)
        if "tomllib" in mods or strings & set(ENV_VARS):
            offenders.append(str(path.relative_to(home.parents[1])))
    # --map is handed to each reader (opts.map_file), never passed on through $LOADSIM_MAP.
    assert offenders == [], offenders


def test_the_owner_file_module_sits_where_every_layer_may_import_it():
    mods, _ = _imports_and_names(Path(owner_file.__file__))
    assert {m.split(".")[0] for m in mods} <= {"__future__", "os", "re", "tomllib",
                                                "collections", "dataclasses", "pathlib",
                                                "typing", "db"}  # fmt: skip
    assert {m for m in mods if m.startswith("db")} == {"db.errors"}


def test_the_walker_sees_a_second_resolver(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import os, tomllib\np = os.environ.get('LOADSIM_DB_MAP')\n")
    mods, strings = _imports_and_names(sample)
    assert "tomllib" in mods and "LOADSIM_DB_MAP" in strings
