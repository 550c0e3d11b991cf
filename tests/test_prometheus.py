"""``--prometheus-port``: ``/metrics`` scraped over real loopback HTTP and parsed with
``prometheus_client``'s own parser; the status comes from a director's real parts (its
hour aggregate, options, clock) without a locust run."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from db.errors import ConfigError
from harness.agent.hourstats import HourAggregate, HourCollector
from harness.config.options import HarnessOptions
from harness.control.status import metrics_status
from harness.outputs.prometheus import CONTENT_TYPE, MetricsServer, render_metrics

SIM_START = datetime(2026, 1, 5, tzinfo=UTC)


def _director(*, breaker: str = "closed") -> SimpleNamespace:
    """The parts ``live_status`` reads, real where they hold logic (hour counters, options,
    ramp, offer calendar): hour 0 and 1 played, the clock in hour 9 (cycle 0)."""
    col = HourCollector()
    for _ in range(6):
        col.count(0, ["acted", "shopped", "completed", "orders"], slip_s=0.2)
    col.count(0, ["acted", "idle"], slip_s=0.4)
    col.count(9, ["acted", "shopped", "failed"], slip_s=1.5)
    for i in range(99):
        col.count(9, ["acted", "idle"], slip_s=0.01 * i)
    col.count(9, ["missed"])
    agg = HourAggregate()
    agg.merge(col.drain())
    now = SIM_START + timedelta(hours=9, minutes=30)
    opts = HarnessOptions(time_scale=96.0, sim_start=SIM_START)
    return SimpleNamespace(
        rt=SimpleNamespace(clock=SimpleNamespace(now=lambda: now)),
        run=SimpleNamespace(run_id='r"1'),
        opts=opts,
        current_hour=9,
        agg=agg,
        pool=SimpleNamespace(limit=37, size=372, leased=35),
        paused=False,
        paused_reason=None,
        cycles_run=[0, 1],
        breaker_state=breaker,
        settings_cycle_days=7,
    )


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(fams: dict[str, Any], name: str, **labels: str) -> float:
    for f in fams.values():
        for s in f.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"{name} {labels} not exposed")


def test_metrics_from_a_directors_status() -> None:
    status = metrics_status(_director())
    fams = _families(render_metrics(status))
    assert _value(fams, "loadsim_run_info", run_id='r"1') == 1  # label escaped and read back
    assert _value(fams, "loadsim_sim_hour") == 9
    assert (
        _value(fams, "loadsim_sim_time_seconds")
        == (SIM_START + timedelta(hours=9, minutes=30)).timestamp()
    )
    assert _value(fams, "loadsim_time_scale") == 96
    assert _value(fams, "loadsim_agents_active") == 35
    assert _value(fams, "loadsim_agents_target") == 37
    assert _value(fams, "loadsim_ramp_fraction") == 1.0  # the default ramp at hour 9
    # Counters: every hour's totals (the parser names the samples ..._total).
    assert fams["loadsim_sessions"].type == "counter"
    assert _value(fams, "loadsim_sessions_total") == 6 + 1 + 1 + 99
    assert _value(fams, "loadsim_orders_total") == 6
    assert _value(fams, "loadsim_failed_flows_total") == 1
    assert _value(fams, "loadsim_missed_sessions_total") == 1
    assert _value(fams, "loadsim_offer_cycles_total") == 2
    assert _value(fams, "loadsim_offer_cycle") == 0
    # The current hour: 100 slips 0..980 ms and one of 1500 ms.
    assert _value(fams, "loadsim_hour_sessions") == 100
    assert _value(fams, "loadsim_slip_p99_ms") == status["slip_p99_ms"]
    assert 970 <= status["slip_p99_ms"] <= 1500
    assert _value(fams, "loadsim_breaker_open") == 0
    assert _value(fams, "loadsim_breaker_state", state="closed") == 1
    assert _value(fams, "loadsim_breaker_state", state="open") == 0
    assert _value(fams, "loadsim_paused") == 0
    assert all(name.startswith("loadsim_") for name in fams)


def test_scrape_over_http_follows_the_status_and_unknowns_are_left_out() -> None:
    state = {"director": _director()}
    server = MetricsServer(lambda: metrics_status(state["director"]), port=0, host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == CONTENT_TYPE
            fams = _families(resp.read().decode())
        assert _value(fams, "loadsim_breaker_open") == 0
        state["director"] = _director(breaker="open")  # the breaker trips
        with urllib.request.urlopen(url, timeout=5) as resp:
            fams = _families(resp.read().decode())
        assert _value(fams, "loadsim_breaker_open") == 1
        assert _value(fams, "loadsim_breaker_state", state="open") == 1
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5)
        assert err.value.code == 404
    finally:
        server.stop()
    # Before the run starts nothing but the run id is known: no made-up zeros.
    fams = _families(render_metrics({"run_id": None}))
    assert list(fams) == ["loadsim_run_info"]


def test_a_port_in_use_is_one_line_naming_the_option() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConfigError) as err:
            MetricsServer(dict, port=port, host="127.0.0.1")
    assert str(err.value).startswith(f"--prometheus-port {port}: cannot listen on 127.0.0.1:")
    assert "\n" not in str(err.value)


def test_the_grafana_dashboard_uses_only_exported_names() -> None:
    import json
    import re
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "loadsim-dashboard.json"
    dash = json.loads(path.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    used = {n for e in exprs for n in re.findall(r"\bloadsim_[a-z0-9_]+", e)}
    fams = _families(render_metrics(metrics_status(_director())))
    exported = {s.name for f in fams.values() for s in f.samples}
    assert used and used <= exported, sorted(used - exported)
    # Every simulation gauge the exporter has is on the dashboard.
    assert exported - used == set(), sorted(exported - used)
