"""The run's PNG plots: simulated time on every time axis, no line hidden under another,
rates per live agent beside the counts, a funnel with percentages, slip in ms on a scale
where it can be read — checked on the drawn figures of a run directory in Locust's real
CSV format."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from reports.build import collect_report
from reports.plots import PLOT_NAMES, figures, funnel_rows, write_plots
from reports.summary import RunReport
from tests.report_fixture import (
    COMPLETED,
    HOURS,
    SESSIONS,
    SHOPPED,
    locust_template_fixture,  # noqa: F401  (the locust_template fixture)
    make_run,
)
from tests.test_reports_support import write_hours


def _report(template: Path, d: Path, hours: list[dict] | None = None) -> RunReport:
    make_run(template, d)
    if hours is not None:
        write_hours(d, hours)
    return collect_report(d, engine=None)


def _named(report: RunReport) -> dict[str, Figure]:
    return dict(zip(PLOT_NAMES, figures(report), strict=True))


def _lines(fig: Figure) -> dict[str, tuple]:
    """Each panel's labelled lines: label → (x, y) per panel, in panel order."""
    return {
        ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata()))
        for ax in fig.axes
        for ln in ax.get_lines()
        if not ln.get_label().startswith("_")
    }


def test_time_axes_are_simulated_and_no_line_looks_like_another(
    tmp_path: Path, locust_template: Path
) -> None:
    figs = _named(_report(locust_template, tmp_path / "r48"))
    for name in ("ramp", "load", "sessions_orders", "slip"):
        bottom = figs[name].axes[-1]
        assert bottom.get_xlabel() == "simulated hour (0 = Mon 2025-01-06 00:00 simulated)" + (
            ", from real seconds × realized scale" if name == "load" else ""
        ), name
        for ax in figs[name].axes:
            looks = [
                (ln.get_color(), ln.get_marker(), str(ln.get_linestyle()))
                for ln in ax.get_lines()
                if not ln.get_label().startswith("_")
            ]
            assert len(looks) == len(set(looks)), (name, looks)
    # Every panel's x axis spans the run's simulated hours.
    for name in ("sessions_orders", "slip"):
        for x, _y in _lines(figs[name]).values():
            if len(x) > 2:
                assert (min(x), max(x)) == (0, len(HOURS) - 1), name


def test_counts_come_with_rates_per_live_agent(tmp_path: Path, locust_template: Path) -> None:
    fig = _named(_report(locust_template, tmp_path / "r48"))["sessions_orders"]
    top, low = fig.axes
    assert (top.get_ylabel(), low.get_ylabel()) == ("per simulated hour", "% of live agents")
    counts = {ln.get_label(): list(ln.get_ydata()) for ln in top.get_lines()}
    rates = {ln.get_label(): list(ln.get_ydata()) for ln in low.get_lines()}
    assert list(counts) == list(rates) == [
        "shop sessions", "idle browses", "orders", "failed flows", "missed sessions",
    ]  # fmt: skip
    assert counts["orders"] == [h["orders"] for h in HOURS]
    assert rates["orders"] == pytest.approx([100 * h["orders"] / h["live_users"] for h in HOURS])
    assert rates["shop sessions"] == pytest.approx(
        [100 * h["shopped"] / h["live_users"] for h in HOURS]
    )
    load = _named(_report(locust_template, tmp_path / "r2"))["load"]
    assert [ax.get_ylabel() for ax in load.axes] == ["per second", "per user", "ms"]


def test_slip_is_in_ms_against_its_limit_and_log_scaled_when_far_below(
    tmp_path: Path, locust_template: Path
) -> None:
    # The fixture's slips (0.5/1.5/3 s) are within a decade of the limit: linear axis.
    fig = _named(_report(locust_template, tmp_path / "near"))["slip"]
    (ax,) = fig.axes
    lines = _lines(fig)
    assert lines["slip p99 (ms)"][1] == [3000.0] * len(HOURS)
    assert lines["slip p50 (ms)"][1] == [500.0] * len(HOURS)
    limit = 0.10 * 3600 / 48 * 1000  # 10 % of a simulated hour at 48x, in ms
    assert lines[f"limit: 10 % of a sim hour ({limit:,.0f} ms)"][1] == [limit, limit]
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == "slip (ms)"
    # A target that keeps up: a few ms of slip under a 7.5 s line — symmetric log.
    quick = [{**h, "slip_p50_s": 0.001, "slip_p95_s": 0.002, "slip_p99_s": 0.004} for h in HOURS]
    fig = _named(_report(locust_template, tmp_path / "far", quick))["slip"]
    (ax,) = fig.axes
    assert _lines(fig)["slip p99 (ms)"][1] == pytest.approx([4.0] * len(HOURS))
    assert ax.get_yscale() == "symlog"
    assert ax.get_ylabel() == "slip (ms, log scale above 1 ms)"
    assert ax.get_ylim()[1] > limit


def test_funnel_gives_each_step_its_share_of_the_first_and_of_the_step_above(
    tmp_path: Path, locust_template: Path
) -> None:
    report = _report(locust_template, tmp_path / "r48")
    assert funnel_rows(report.funnel) == [
        ("sessions", SESSIONS, 100.0, None),
        ("shop sessions", SHOPPED, pytest.approx(100 * SHOPPED / SESSIONS), pytest.approx(
            100 * SHOPPED / SESSIONS)),
        ("checkout complete", COMPLETED, pytest.approx(100 * COMPLETED / SESSIONS),
         pytest.approx(100 * COMPLETED / SHOPPED)),
    ]  # fmt: skip
    texts = [t.get_text() for t in _named(report)["funnel"].axes[0].texts]
    assert texts[-1] == (
        f"{COMPLETED} = {100 * COMPLETED / SESSIONS:.1f}% of sessions\n"
        f"{100 * COMPLETED / SHOPPED:.1f}% of the step above"
    )
    # Optional coupon steps: a share of the first step, never "the step above".
    steps = [("shop sessions", 40), ("viewed products", 30), ("viewed a coupon", 5),
             ("checkout complete", 24)]  # fmt: skip
    assert funnel_rows(steps)[2:] == [
        ("viewed a coupon", 5, 12.5, None),
        ("checkout complete", 24, 60.0, 80.0),
    ]
    assert funnel_rows([("sessions", 0)]) == []


def test_a_run_without_hours_still_writes_every_plot(tmp_path: Path, locust_template: Path) -> None:
    report = _report(locust_template, tmp_path / "nohours", hours=[])
    paths = write_plots(report, tmp_path / "plots")
    assert [p.name for p in paths] == [f"{n}.png" for n in PLOT_NAMES]
    figs = _named(report)
    assert [t.get_text() for t in figs["slip"].axes[0].texts] == ["no data"]
    assert _lines(figs["load"])  # Locust's history still draws the load
