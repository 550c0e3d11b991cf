"""The director's parts on their own: batched leases (worker and master side),
the run guard's view of every process, and hours a dead worker held counted missed."""

from __future__ import annotations

import time
from types import SimpleNamespace

import gevent

from harness.agent.lease_client import LeaseClient, batch_size
from harness.config.messages import Grant, LeaseRequest
from harness.control.hour_book import HourBook
from harness.control.lease_broker import LeaseBroker
from harness.control.leases import LeasePool, PoolEntry
from harness.control.run_guard import UNAVAILABLE_IN_A_ROW, RunGuard
from harness.control.run_state import RunState


class _Runner:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, str | None]] = []

    def send_message(self, kind, data, client_id=None):
        self.sent.append((kind, data, client_id))


def _entries(n: int) -> list[PoolEntry]:
    return [PoolEntry(i, 100 + i, f"P{i:03d}", "s", {"persona_id": f"P{i:03d}"}) for i in range(n)]


def test_batch_size_follows_the_spawn_rate():
    assert [batch_size(r) for r in (None, 1, 10, 300, 10**6)] == [1, 1, 1, 30, 500]


def test_a_burst_of_users_leases_in_one_round_trip_each_way():
    runner = _Runner()
    client = LeaseClient(SimpleNamespace(runner=runner), spawn_rate=300)  # k = 30
    results = [client.ask(f"w1:{i}") for i in range(30)]
    leases = [m for m in runner.sent if m[0] == "loadsim_lease"]
    assert len(leases) == 1 and len(leases[0][1]["req_ids"]) == 30  # full batch: sent at once
    # The master's side: one grant message for the holder, carrying all 30.
    broker = LeaseBroker(LeasePool(_entries(40), seed=1), runner=runner)
    broker.on_lease(LeaseRequest.from_msg(leases[0][1]), "w1")
    grants = [m for m in runner.sent if m[0] == "loadsim_grant"]
    assert len(grants) == 1 and grants[0][2] == "w1" and len(grants[0][1]["grants"]) == 30
    client.on_grants(Grant.from_msg(grants[0][1]))
    agents = {r.get(timeout=1)["agent_id"] for r in results}
    assert len(agents) == 30 and broker.pool.leased == 30
    assert broker.lease_log == [] and broker.lease_events == 30  # --mock-db: counted only


def test_k_follows_the_rate_users_start_at_when_the_spawn_rate_is_not_known():
    runner = _Runner()
    client = LeaseClient(SimpleNamespace(runner=runner), spawn_rate=1)
    for i in range(200):  # a burst (the shape's 100+/s), all within a few ms
        client.ask(f"w:{i}")
    leases = [m for m in runner.sent if m[0] == "loadsim_lease"]
    assert client.k > 1 and len(leases) < 40, (client.k, len(leases))
    assert sum(len(m[1]["req_ids"]) for m in leases) + len(client._batch) == 200


def test_a_partial_batch_leaves_within_the_window_and_a_gone_user_gives_back():
    runner = _Runner()
    client = LeaseClient(SimpleNamespace(runner=runner), spawn_rate=1000)
    client.ask("a")
    client.ask("b")
    client.cancel("b")  # stopped before the batch left: never sent
    assert runner.sent == []
    gevent.sleep(0.2)
    assert runner.sent == [("loadsim_lease", {"req_ids": ["a"]}, None)]
    client.done("a")
    entry = {"agent_id": 7, "user_id": 107, "persona": {"persona_id": "P007"}}
    client.on_grants(Grant.from_msg({"grants": [{"req_id": "a", "entry": entry}]}))
    assert runner.sent[-1] == ("loadsim_release", {"agent_id": 7}, None)


def test_the_guard_takes_the_worst_process_and_ignores_stale_reports():
    rt = SimpleNamespace(
        counters=SimpleNamespace(consecutive_unavailable=0, throttled=0),
        worker_name="master", clock=None,
    )  # fmt: skip
    guard = RunGuard(rt, RunState(), book=HourBook(rt, RunState()), broadcast=lambda: None,
                     checkpoint=lambda **_kw: None)  # fmt: skip
    assert guard.worst_unavailable() == (0, "master")
    guard.on_report("w1", UNAVAILABLE_IN_A_ROW + 2, 3)
    guard.on_report("w2", 1, 4)
    assert guard.worst_unavailable() == (UNAVAILABLE_IN_A_ROW + 2, "worker w1")
    assert guard.throttled_total() == 7
    guard._workers["w1"] = (time.time() - 60, 50, 3)  # w1 went quiet a minute ago
    assert guard.worst_unavailable() == (1, "worker w2")


def test_hours_a_dead_worker_held_are_counted_missed_and_add_up():
    events = []
    files = SimpleNamespace(log_event=lambda kind, **kw: events.append((kind, kw)))
    book = HourBook(SimpleNamespace(), RunState(files=files))
    book.expected_at_hour.update({4: 10, 5: 10, 6: 10})
    book.agg.merge({"4": {"counts": {"acted": 10}}, "5": {"counts": {"acted": 3, "missed": 1}},
                    "6": {"counts": {"acted": 10}}})  # fmt: skip
    book.mark_unheld(5, 6)
    for h in (4, 5, 6):
        book.note_unheld(h)
    assert [book.unheld(h) for h in (4, 5, 6)] == [0, 6, 0]
    assert events == [("hours_unheld", {"sim_hour": 5, "missed": 6, "expected": 10})]
    # A late report (the new holder acted hour 5 after it was written): recomputed.
    book.agg.merge({"5": {"counts": {"acted": 1}}})
    assert book.unheld(5) == 5


def test_hours_already_written_are_noted_when_the_death_is_known():
    events = []
    files = SimpleNamespace(log_event=lambda kind, **kw: events.append((kind, kw)))
    book = HourBook(SimpleNamespace(), RunState(files=files))
    book.reported_hour = 7
    book.expected_at_hour.update({6: 4, 7: 4, 8: 4})
    book.agg.merge({"6": {"counts": {"acted": 1}}, "7": {"counts": {"acted": 4}}})
    book.mark_unheld(6, 8)  # 6 and 7 are written: noted now; 8 when it is
    assert [e[1]["sim_hour"] for e in events] == [6] and book.unheld(8) == 4
