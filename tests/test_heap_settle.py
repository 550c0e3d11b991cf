"""The heap is frozen once a process's users have all started, and again as a ramp grows."""

from __future__ import annotations

import gc

from harness.agent import heap
from harness.agent.heap import HeapSettler


def _settler(spawned: list[int]) -> tuple[HeapSettler, list[str]]:
    calls: list[str] = []
    s = HeapSettler(
        lambda: spawned[0], collect=lambda: calls.append("collect"),
        freeze=lambda: calls.append("freeze"),
        threshold=lambda *t: calls.append(f"threshold {t[2]}"),
    )  # fmt: skip
    return s, calls


def test_frozen_once_when_every_spawned_user_has_started():
    spawned = [5000]
    s, calls = _settler(spawned)
    for _ in range(4999):
        s.user_started()
    assert calls == []  # one user of the spawn is still starting
    s.user_started()
    assert calls == ["collect", "freeze", f"threshold {heap.FULL_EVERY}"]
    assert s.frozen_at == 5000 and s.freezes == 1
    s.user_stopped()
    s.user_started()  # a replacement: no new freeze for one user
    assert s.freezes == 1


def test_a_ramp_freezes_again_after_ten_percent_more_users():
    spawned = [2000]
    s, calls = _settler(spawned)
    for _ in range(2000):
        s.user_started()
    assert s.freezes == 1
    spawned[0] = 2100  # +5 %: not worth a collection
    for _ in range(100):
        s.user_started()
    assert s.freezes == 1
    spawned[0] = 2300  # +15 % of the frozen 2,000
    for _ in range(200):
        s.user_started()
    assert s.freezes == 2 and s.frozen_at == 2300 and calls.count("freeze") == 2
    assert calls.count(f"threshold {heap.FULL_EVERY}") == 1  # set once


def test_small_processes_are_left_alone():
    spawned = [heap.MIN_USERS - 1]
    s, calls = _settler(spawned)
    for _ in range(heap.MIN_USERS - 1):
        s.user_started()
    assert calls == [] and s.freezes == 0


def test_the_real_freeze_moves_objects_out_of_the_collected_generations():
    spawned = [heap.MIN_USERS]
    s = HeapSettler(lambda: spawned[0])
    before = gc.get_threshold()
    try:
        for _ in range(heap.MIN_USERS):
            s.user_started()
        assert s.freezes == 1 and gc.get_freeze_count() > 0
        assert gc.get_threshold() == (*before[:2], heap.FULL_EVERY)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
