"""Same seed → the same behaviour event stream as the recorded one.

Refactors (an agent's hour as one unit, one pricing rule set, one calendar
helper) must not change what agents do. This test replays 40 sample personas × 2 simulated
weeks offline (``tests/golden_events.py``: the ``loadsim calibrate`` path) and compares
every canonicalised event with ``tests/data/golden_events.json``; on a mismatch it names
the first differing persona, simulated hour and event.

Re-record ONLY for an intended behaviour change (and say so in the commit message)::

    .venv/bin/python -m tests.golden_events --record
    # or: LOADSIM_RECORD_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden_events.py
"""

from __future__ import annotations

import copy
import json
import os

import pytest

from tests import golden_events as golden


@pytest.fixture(scope="module")
def stream():
    return golden.compute_stream()


def test_event_stream_matches_the_recording(stream):
    if os.environ.get("LOADSIM_RECORD_GOLDEN") == "1":
        golden.GOLDEN_PATH.write_text(json.dumps(golden.summarise(stream), indent=0) + "\n")
        pytest.skip(f"re-recorded {golden.GOLDEN_PATH.name} (LOADSIM_RECORD_GOLDEN=1)")
    recorded = json.loads(golden.GOLDEN_PATH.read_text())
    diff = golden.first_difference(recorded, stream)
    assert diff is None, f"behaviour changed: {diff}"
    assert recorded["counts"]["checkout_complete"] > 0  # the sample really shops


def test_a_changed_event_is_located(stream):
    """The comparison can fail, and names persona / hour / event when it does."""
    recorded = json.loads(golden.GOLDEN_PATH.read_text())
    pid = next(p for p, hours in stream.items() if any(len(v) > 3 for v in hours.values()))
    hour = next(h for h, v in sorted(stream[pid].items()) if len(v) > 3)
    changed = copy.deepcopy(stream)
    row = json.loads(changed[pid][hour][2])
    row[4] = (row[4] or 0) + 1  # one cent on the second event's price
    changed[pid][hour][2] = json.dumps(row, sort_keys=True, separators=(",", ":"))
    diff = golden.first_difference(recorded, changed)
    assert diff is not None
    assert f"persona {pid}, sim hour {hour}, event #1" in diff
