"""Calibration statistics and their rendering: realized vs expected with a stated tolerance.

Every calibrated quantity is a *count* whose expectation the rules state exactly:
- yes/no outcomes (shop this hour, idle browse, abandon, open the wallet, apply a coupon):
  the count of yeses is a sum of Bernoulli draws with the probabilities the rules computed
  (recorded in each decision), so E = Σp and V = Σp(1−p);
- sizes drawn as ``1 + Poisson(m − 1)`` (products viewed, intended basket): the sum of
  ``size − 1`` is Poisson with E = V = Σ(m − 1).

Tolerance (``personas.expectations.bernstein_tolerance``, shared with ``reports``:
Bernstein's inequality, valid for both kinds and for small counts where a normal
approximation is not): ``P(|X − E| ≥ t) ≤ 2·exp(−t² / (2(V + t/3)))``. Setting the right side
to ``α / m`` (family error ``α``, Bonferroni over the ``m`` tests of the report) gives
``t = L/3 + sqrt(L²/9 + 2·V·L)`` with ``L = ln(2m/α)``. A quantity passes when
``|realized − expected| ≤ t``; with V = 0 (deterministic, e.g. frequency 0) it must match
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tabulate import tabulate

# The tolerance is shared with reports.calibration, so it lives below both; re-exported here
# for the calibration run and its tests.
from personas.expectations import DEFAULT_ALPHA as DEFAULT_ALPHA
from personas.expectations import bernstein_tolerance as bernstein_tolerance


@dataclass(slots=True)
class Tally:
    """One calibrated count over a group of units (persona-weeks, sessions, …)."""

    units: int = 0
    realized: float = 0.0
    expected: float = 0.0
    variance: float = 0.0
    configured: float = 0.0  # Σ of the configured attribute over units (for display)
    realized_info: float = 0.0  # Σ of a displayed-only realized value (e.g. actual items)

    def add(self, other: Tally) -> None:
        self.units += other.units
        self.realized += other.realized
        self.expected += other.expected
        self.variance += other.variance
        self.configured += other.configured
        self.realized_info += other.realized_info


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the report."""

    metric: str
    group: str
    units: int
    configured: float | None
    expected: float | None
    realized: float | None
    tolerance: float | None
    passed: bool
    unit_label: str
    note: str = ""


@dataclass(slots=True)
class CalibrationReport:
    """All checks of one calibration run, overall and per segment."""

    personas: int
    weeks: int
    seed: int
    alpha: float
    checks: list[Check] = field(default_factory=list)
    invariants: dict[str, int] = field(default_factory=dict)
    """Hard invariants (must be 0): budget exceeded, basket lost items, …"""
    graph_runs: int = 0
    agent_hours: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failures and not any(self.invariants.values())

    def overall(self) -> list[Check]:
        return [c for c in self.checks if not c.group.startswith("segment ")]

    def segments(self) -> list[Check]:
        return [c for c in self.checks if c.group.startswith("segment ")]


def build_checks(
    tallies: dict[tuple[str, str], Tally],
    *,
    metric_kinds: dict[str, tuple[str, float]],
    alpha: float,
) -> list[Check]:
    """Turn tallies into checks.

    ``metric_kinds[metric] = (unit label, offset)``: displayed values are ``Σ / units +
    offset`` (offset 1 for sizes tallied as ``size − 1``; configured is not offset).
    """
    tests = sum(1 for t in tallies.values() if t.units > 0)
    out = []
    for (metric, group), t in tallies.items():
        label, offset = metric_kinds[metric]
        if t.units == 0:
            out.append(Check(metric, group, 0, None, None, None, None, True, label, "no data"))
            continue
        tol = bernstein_tolerance(t.variance, alpha=alpha, tests=tests)
        per = 1.0 / t.units
        note = f"actual {t.realized_info * per:.2f}" if t.realized_info else ""
        out.append(
            Check(
                metric=metric,
                group=group,
                units=t.units,
                # divide (not × 1/n): 49 abandonments of 49 read exactly 1.0
                configured=t.configured / t.units,
                expected=t.expected / t.units + offset,
                realized=t.realized / t.units + offset,
                tolerance=tol * per,
                passed=abs(t.realized - t.expected) <= tol,
                unit_label=label,
                note=note,
            )
        )
    return out


def render(report: CalibrationReport, *, show_segments: bool = True) -> str:
    """The console report: method, overall table, per-segment table, verdict."""
    lines = [
        f"calibration: {report.personas} personas × {report.weeks} simulated weeks, "
        f"seed {report.seed} — {report.agent_hours:,} agent-hours, {report.graph_runs:,} "
        f"graph runs in {report.seconds:.1f} s",
        "expected = what the rules imply for these personas in this run (weekly "
        "normalization, coupon lift, price/coupon modulation of abandonment);",
        "pass = |realized − expected| ≤ tolerance, Bernstein bound with family error "
        f"α = {report.alpha:g} (Bonferroni over {len(report.checks)} checks).",
        "",
    ]
    metric_order = {m: i for i, m in enumerate(dict.fromkeys(c.metric for c in report.checks))}
    group_order = {"all": 0, "ds low": 1, "ds mid": 2, "ds high": 3}
    overall = sorted(
        report.overall(), key=lambda c: (metric_order[c.metric], group_order.get(c.group, 9))
    )
    rows = [_row(c) for c in overall]
    lines.append(
        tabulate(
            rows,
            headers=["metric", "group", "n", "configured", "expected", "realized", "±tol", ""],
            tablefmt="simple",
            disable_numparse=True,
        )
    )
    if show_segments and report.segments():
        lines += ["", "per segment (channel/income/frequency): realized vs expected"]
        by_seg: dict[str, dict[str, Check]] = {}
        for c in report.segments():
            by_seg.setdefault(c.group.removeprefix("segment "), {})[c.metric] = c
        metrics = list(dict.fromkeys(c.metric for c in report.segments()))
        seg_rows = []
        for seg, checks in sorted(by_seg.items()):
            row = [seg]
            for m in metrics:
                cell = checks.get(m)
                if cell is None or cell.units == 0:
                    row.append("-")
                else:
                    mark = "" if cell.passed else " FAIL"
                    row.append(f"{cell.realized:.2f}/{cell.expected:.2f}{mark}")
            seg_rows.append(row)
        lines.append(tabulate(seg_rows, headers=["segment", *metrics], tablefmt="simple"))
    lines.append("")
    for name, count in report.invariants.items():
        lines.append(f"invariant {name}: {count} {'ok' if count == 0 else 'VIOLATED'}")
    verdict = "PASS" if report.passed else f"FAIL ({len(report.failures)} checks failed)"
    lines.append(f"calibration {verdict}")
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _row(c: Check) -> list[str]:
    mark = "ok" if c.passed else "FAIL"
    return [
        f"{c.metric} ({c.unit_label})",
        c.group,
        str(c.units),
        _fmt(c.configured),
        _fmt(c.expected),
        _fmt(c.realized) + (f" [{c.note}]" if c.note else ""),
        _fmt(c.tolerance),
        mark,
    ]
