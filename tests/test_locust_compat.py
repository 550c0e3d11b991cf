"""``harness/config/locust_compat.py`` is the one place the harness reaches past Locust's
public API.

* Contract tests run each of its pieces against the installed Locust (in a subprocess:
  importing locust monkey-patches this process's standard library). They fail the day a
  Locust release renames ``User._state``, changes ``_stats_history_data_rows`` or the history
  header, renames the web UI's endpoints, or drops the fields the harness sets.
* A static test fails when a Locust private name, an argparse private container, a string
  naming one of Locust's Flask endpoints, or an attribute hung on a Locust object appears in
  the harness outside the adapter.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ADAPTER = "harness/config/locust_compat.py"

_CONTRACT = r"""
import csv, inspect, io, json, sys, tempfile, weakref
import gevent
from gevent.pool import Group
from locust import User, task
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter
from locust.web import WebUI
import locust.log

from harness.config import locust_compat as lc
from harness.config.options import register_options

out = {}
seen = []


class Looping(User):
    @task
    def loop(self):
        while not lc.user_is_stopping(self):
            seen.append(False)
            gevent.sleep(0.01)
        seen.append(True)


env = Environment(user_classes=[Looping])
runner = env.create_local_runner()

# user_is_stopping: a graceful stop while the task runs is seen by the task.
user = Looping(env)
out["stopping_idle"] = lc.user_is_stopping(user)
group = Group()
user.start(group)
gevent.sleep(0.05)
out["stopping_before"] = lc.user_is_stopping(user)
out["stop_killed"] = user.stop(force=False)
gevent.sleep(0.05)
out["task_saw_stop"] = seen[-1] is True and seen.count(True) == 1
group.kill(block=True)

# history_writer: Locust's own header and rows, without Locust's files.
for ms in (10, 20, 30, 400):
    env.stats.log_request("GET", "/x", ms, 100)
env.stats.log_error("GET", "/x", "boom")
ours = lc.history_writer(env)
with tempfile.TemporaryDirectory() as tmp:
    theirs = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, tmp + "/t")
    out["columns_equal"] = ours.columns == theirs.stats_history_csv_columns
    a, b = io.StringIO(), io.StringIO()
    ours.write_rows(csv.writer(a), 1700000000.0)
    theirs._stats_history_data_rows(csv.writer(b), 1700000000.0)
    out["rows"] = [a.getvalue(), b.getvalue()]
    theirs.close_files()
sig = inspect.signature(StatsCSVFileWriter._stats_history_data_rows)
out["rows_signature"] = list(sig.parameters)
out["columns_n"] = len(ours.columns)

# The endpoints Locust's views are registered under.
web_ui = WebUI(env, "127.0.0.1", 0)
endpoints = {}


@web_ui.app.after_request
def _note(response):
    from flask import request

    endpoints[request.path] = request.endpoint
    return response


client = web_ui.app.test_client()
out["stats_code"] = client.get("/stats/requests").status_code
out["index_code"] = client.get("/").status_code
out["endpoints"] = endpoints
out["adapter_endpoints"] = [lc.ENDPOINT_REQUEST_STATS, lc.ENDPOINT_INDEX]

# What the harness keeps beside Locust's objects, not on them: they must be weakly referable.
out["weakrefs"] = all(weakref.ref(o)() is o for o in (env, runner, web_ui, user))

# Environment fields the harness sets are Locust's own.
out["env_fields"] = {f: hasattr(env, f) for f in sorted(lc.ENVIRONMENT_FIELDS_SET)}

# locust_exit_code follows locust.main's rule.
codes = {"errors": lc.locust_exit_code(env)}
env.stats.clear_all()
runner.errors.clear()
runner.exceptions.clear()
out["log_flag_present"] = hasattr(locust.log, "unhandled_greenlet_exception")
codes["clean"] = lc.locust_exit_code(env)
locust.log.unhandled_greenlet_exception = True
codes["greenlet"] = lc.locust_exit_code(env)
locust.log.unhandled_greenlet_exception = False
runner.log_exception("local", "boom", "tb")
codes["exception"] = lc.locust_exit_code(env)
out["exit_codes"] = codes

# register_options on Locust's own parser: repeat-safe, one group, through argparse's public API.
from locust.argument_parser import get_parser

parser = get_parser(default_config_files=[])
register_options(parser)
register_options(parser)
ns = parser.parse_args(["-f", "locustfile.py", "--runs-dir", "elsewhere", "--pace", "off"])
out["parsed"] = [ns.runs_dir, ns.pace]
out["groups"] = parser.format_help().count("VoiceOffers harness")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _CONTRACT], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_user_is_stopping_sees_locusts_graceful_stop(contract: dict[str, Any]) -> None:
    assert contract["stopping_idle"] is False
    assert contract["stopping_before"] is False
    assert contract["stop_killed"] is False  # a running task: Locust lets it finish
    assert contract["task_saw_stop"] is True


def test_history_rows_are_locusts_own(contract: dict[str, Any]) -> None:
    assert contract["rows_signature"] == ["self", "csv_writer", "now"]
    assert contract["columns_equal"] is True
    ours, theirs = contract["rows"]
    assert ours == theirs
    fields = next(iter(__import__("csv").reader([ours])))
    assert fields[:4] == ["1700000000", "0", "", "Aggregated"]
    assert fields[-7:-5] == ["4", "1"]  # total requests, failures


def test_the_web_uis_endpoint_names(contract: dict[str, Any]) -> None:
    assert (contract["stats_code"], contract["index_code"]) == (200, 200)
    assert contract["endpoints"] == {
        "/stats/requests": contract["adapter_endpoints"][0],
        "/": contract["adapter_endpoints"][1],
    }


def test_locust_objects_are_weakly_referable(contract: dict[str, Any]) -> None:
    assert contract["weakrefs"] is True


def test_environment_fields_the_harness_sets_are_locusts(contract: dict[str, Any]) -> None:
    assert contract["env_fields"] == {"host": True, "process_exit_code": True, "stop_timeout": True}


def test_exit_code_follows_locust_main(contract: dict[str, Any]) -> None:
    assert contract["log_flag_present"] is True
    assert contract["exit_codes"] == {"errors": 1, "clean": 0, "greenlet": 2, "exception": 1}


def test_register_options_on_locusts_parser(contract: dict[str, Any]) -> None:
    assert contract["parsed"] == ["elsewhere", "off"]
    assert contract["groups"] == 1


# ------------------------------------------------------------------ static: one adapter

ARGPARSE_PRIVATE = {"_actions", "_action_groups", "_group_actions", "_option_string_actions"}
"""argparse's private containers (Locust's parser is an argparse parser)."""
LOCUST_OBJECT_NAMES = {"environment", "env", "runner", "web_ui", "parser"}
"""Names the harness gives Locust's objects; attributes assigned on them are checked."""
_DEFINES = (
    re.compile(r"\bself\.(_[a-z][a-z0-9_]*)\s*(?::[^=\n]+)?="),
    re.compile(r"\bdef (_[a-z][a-z0-9_]*)"),
    re.compile(r"^\s*(_[a-z][a-z0-9_]*)\s*(?::[^=\n]+)?=", re.M),
)


def _private_defs(files: list[Path]) -> set[str]:
    names: set[str] = set()
    for f in files:
        text = f.read_text(encoding="utf-8")
        for rx in _DEFINES:
            names |= set(rx.findall(text))
    return names


def locust_private_names() -> set[str]:
    """Single-underscore names Locust defines (attributes, methods, module globals), read
    from the installed package's source without importing it."""
    spec = importlib.util.find_spec("locust")
    assert spec is not None and spec.origin is not None
    return _private_defs(sorted(Path(spec.origin).parent.rglob("*.py")))


def harness_files() -> list[Path]:
    return [ROOT / "locustfile.py", *sorted((ROOT / "harness").rglob("*.py"))]


def violations(path: Path, text: str, locust_only: set[str]) -> list[str]:
    """Each use, in one file, of what only the adapter may use."""
    rel = path.relative_to(ROOT).as_posix() if path.is_absolute() else str(path)
    out: list[str] = []
    for node in ast.walk(ast.parse(text)):
        where = f"{rel}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Attribute) and node.attr in locust_only | ARGPARSE_PRIVATE:
            out.append(f"{where}: .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.fullmatch(r"locust\.[a-z_]+", node.value) and node.value != "locust.log":
                out.append(f"{where}: {node.value!r}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setattr":
            out.append(f"{where}: setattr(...)")
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in locust_only | ARGPARSE_PRIVATE
        ):
            out.append(f"{where}: {node.func.id}(..., {node.args[1].value!r})")  # type: ignore[attr-defined]
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if (
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and t.value.id in LOCUST_OBJECT_NAMES
                    and t.attr not in _ENV_FIELDS
                ):
                    out.append(f"{where}: {t.value.id}.{t.attr} = ...")
    return out


def _adapter_fields() -> set[str]:
    tree = ast.parse((ROOT / ADAPTER).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == (
            "ENVIRONMENT_FIELDS_SET"
        ):
            return {ast.literal_eval(e) for e in node.value.args[0].elts}  # type: ignore[attr-defined]
    raise AssertionError("ENVIRONMENT_FIELDS_SET not found in the adapter")


_ENV_FIELDS = _adapter_fields()


def _own_attributes(files: list[Path]) -> set[str]:
    """Private attribute names the harness's own classes define: methods and class fields
    in a class body, and ``self._x`` assignments."""
    names: set[str] = set()
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        names.add(item.name)
                    elif isinstance(item, ast.Assign | ast.AnnAssign):
                        targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                        names |= {t.id for t in targets if isinstance(t, ast.Name)}
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _locust_only() -> set[str]:
    """Locust's private names the harness's own classes do not also define (a name both
    define — the director's own ``_loop`` — cannot be told apart statically)."""
    own = _own_attributes([f for f in harness_files() if not f.as_posix().endswith(ADAPTER)])
    return locust_private_names() - own


def test_no_locust_private_name_outside_the_adapter() -> None:
    locust_only = _locust_only()
    found = [
        v
        for f in harness_files()
        if not f.as_posix().endswith(ADAPTER)
        for v in violations(f, f.read_text(encoding="utf-8"), locust_only)
    ]
    assert found == []


def test_the_adapter_is_where_they_are() -> None:
    """The check finds the adapter's own uses (so it would find them anywhere else)."""
    path = ROOT / ADAPTER
    found = violations(path, path.read_text(encoding="utf-8"), _locust_only())
    assert any(v.endswith("._state") for v in found)
    assert any(v.endswith("._stats_history_data_rows") for v in found)
    assert any("'locust.request_stats'" in v for v in found)
    assert any("'locust.index'" in v for v in found)


@pytest.mark.parametrize(
    "source",
    [
        "def f(user):\n    return user._state\n",
        "def f(w, now):\n    w._stats_history_data_rows(None, now)\n",
        "def f(parser):\n    return parser._actions\n",
        "def f(parser):\n    return getattr(parser, '_actions', [])\n",
        "def f(request):\n    return request.endpoint == 'locust.request_stats'\n",
        "def f(web_ui):\n    web_ui.installed_by_us = True\n",
        "def f(environment, rt):\n    setattr(environment, 'loadsim', rt)\n",
    ],
)
def test_the_check_catches(source: str) -> None:
    assert len(violations(Path("x.py"), source, _locust_only())) == 1


def test_the_check_allows_locusts_own_fields() -> None:
    source = "def f(environment):\n    environment.process_exit_code = 2\n"
    assert violations(Path("x.py"), source, _locust_only()) == []
