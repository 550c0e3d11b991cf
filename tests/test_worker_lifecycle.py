"""A hand-started worker gives up on a silent master after the settings' number of seconds
(``harness.wiring.lifecycle.watch_master``, given ``$LOADSIM_MASTER_SILENCE_S`` as read once
with the other settings, ``db.settings.SimSettings.master_silence_s``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gevent

from harness.wiring import lifecycle


class _Hook:
    """Locust's ``EventHook`` as ``watch_master`` uses it (Locust is not imported here)."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add_listener(self, fn: Any) -> None:
        self.listeners.append(fn)


def test_a_silent_master_is_given_up_after_silence_s(monkeypatch):
    gone: list[str] = []
    monkeypatch.setattr(lifecycle, "master_gone", lambda _env, _runner, why: gone.append(why))
    events = SimpleNamespace(heartbeat_received=_Hook(), test_stopping=_Hook(), test_stop=_Hook())
    runner = SimpleNamespace(master_host="m", master_port=5557)
    lifecycle.watch_master(SimpleNamespace(events=events), runner, silence_s=2.0)
    gevent.sleep(1.5)
    assert gone == []  # the loop looked once, 1 s in: not yet
    gevent.sleep(2.0)
    assert gone == ["no heartbeat from the master at m:5557 for 2 s"]
