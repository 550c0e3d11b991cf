"""A locustfile for end-to-end tests: the project's own ``locustfile.py`` (loaded by
path, so its users, shape and hooks are exactly the real ones) plus faults named in
``LOADSIM_TEST_FAULTS`` (comma-separated), to prove a run's end survives them:

- ``director``: every finished simulated hour throws inside the director's loop;
- ``end``: the exit checkpoint and Locust's final stats writer throw at the run's end;
- ``report``: building the run's report throws (the report package is broken).

Never imported by the harness itself: production code carries no fault switches.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import locust  # noqa: F401  (first, as in the project's locustfile: gevent patches early)

_spec = importlib.util.spec_from_file_location(
    "loadsim_locustfile", Path(__file__).resolve().parent.parent / "locustfile.py"
)
assert _spec is not None and _spec.loader is not None
_project = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_project)
PersonaUser = _project.PersonaUser
WarmupRamp = _project.WarmupRamp

FAULTS = {f.strip() for f in os.environ.get("LOADSIM_TEST_FAULTS", "").split(",") if f.strip()}


def _raise(what: str):
    def fail(*_a, **_k):
        raise RuntimeError(f"injected {what} fault")

    return fail


if "director" in FAULTS:
    from harness.control.director import SimulationDirector

    SimulationDirector._after_hour = _raise("director")  # type: ignore[method-assign]

if "end" in FAULTS:
    from harness.control.director import SimulationDirector
    from harness.outputs.run_files import RunFiles

    _checkpoint = SimulationDirector.checkpoint

    def _checkpoint_but_not_at_exit(self, *, reason="manual", hour=None):
        if reason == "exit":
            raise RuntimeError("injected end fault (exit checkpoint)")
        return _checkpoint(self, reason=reason, hour=hour)

    SimulationDirector.checkpoint = _checkpoint_but_not_at_exit  # type: ignore[method-assign]
    RunFiles.write_final_stats = _raise("end (final stats)")  # type: ignore[method-assign]

if "report" in FAULTS:
    import reports.build

    reports.build.build_run_report = _raise("report")
