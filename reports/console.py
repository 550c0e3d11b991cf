"""The console summary printed at the end of every run (one screenful, tabulate)."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

MAX_ENDPOINT_ROWS = 12


def fmt(v: Any, kind: str = "") -> str:
    """Format one figure for the console: ``-`` for unknown, % for rates, ms, $."""
    if v is None:
        return "-"
    if kind == "pct":
        return f"{100 * v:.2f}%"
    if kind == "pct100":
        return f"{v:.2f}%"
    if kind == "ms":
        return f"{v:,.0f}"
    if kind == "usd":
        return f"${v / 100:,.2f}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def render_console(summary: dict[str, Any]) -> str:
    """Render the end-of-run summary: load per endpoint (p50/p95/p99), behavior, offers,
    time (realized scale, slip, missed sessions) and orders per real minute.

    Args:
        summary: the dict returned by ``reports.build.build_run_report``.

    Returns:
        Plain text, about one screen long.
    """
    load, time, offers = summary["load"], summary["time"], summary["offers"]
    beh = summary["behavior"]["overall"]
    head = [f"Run {summary['run_id']}"]
    if summary.get("verdict"):
        from reports.verdict import render_verdict

        head += render_verdict(summary["verdict"])
    out: list[str] = ["\n".join(head)]

    eps = sorted(load["endpoints"], key=lambda e: -e["requests"])
    rows = [
        [
            e["type"],
            e["name"],
            fmt(e["requests"]),
            fmt(e["failure_rate"], "pct"),
            fmt(e["p50_ms"], "ms"),
            fmt(e["p95_ms"], "ms"),
            fmt(e["p99_ms"], "ms"),
        ]
        for e in eps[:MAX_ENDPOINT_ROWS]
    ]
    if len(eps) > MAX_ENDPOINT_ROWS:
        rows.append(
            ["", f"… {len(eps) - MAX_ENDPOINT_ROWS} more (report.xlsx)", "", "", "", "", ""]
        )
    rows.append(
        [
            "API",
            "all HTTP",
            fmt(load["requests"]),
            fmt(load["error_rate"], "pct"),
            fmt(load["p50_ms"], "ms"),
            fmt(load["p95_ms"], "ms"),
            fmt(load["p99_ms"], "ms"),
        ]
    )
    out.append(
        tabulate(
            rows,
            headers=["type", "endpoint", "requests", "fail", "p50 ms", "p95 ms", "p99 ms"],
            tablefmt="simple",
            disable_numparse=True,
        )
    )
    errs = ", ".join(f"{k} {v:,}" for k, v in sorted(load["errors_by_kind"].items()))
    out.append(f"requests/s {fmt(load['rps'])}   errors: {errs or 'none'}")

    side = [
        ["sessions (shop / idle)", f"{fmt(beh['shop_sessions'])} / {fmt(beh['idle_browses'])}"],
        ["completed / shop sessions", fmt(beh["conversion"], "pct")],
        ["orders / all sessions", fmt(beh.get("orders_per_session"), "pct")],
        ["abandoned / finished", fmt(beh["abandonment"], "pct")],
        ["basket size", fmt(beh.get("basket_size_mean"))],
        ["order value", fmt(beh.get("order_value_mean_cents"), "usd")],
        ["orders", fmt(beh["orders"])],
        [
            "coupons viewed/applied/redeemed",
            "/".join(
                fmt(beh.get(k)) for k in ("coupon_views", "coupon_applies", "coupon_redemptions")
            ),
        ],
    ]
    right = [
        ["offer cycles", fmt(offers["cycles"])],
        [
            "assigned/expired/replaced",
            "/".join(fmt(offers.get(k)) for k in ("assigned", "expired", "replaced")),
        ],
        [
            "time scale (set / realized)",
            f"{fmt(time['time_scale'])} / {fmt(time['realized_time_scale'])}",
        ],
        ["simulated hours", fmt(time["sim_hours"])],
        [
            "slip p50/p95/p99 (ms)",
            "/".join(
                fmt(None if time[k] is None else 1000 * time[k], "ms")
                for k in ("slip_p50_s", "slip_p95_s", "slip_p99_s")
            ),
        ],
        ["slip p99 (% of sim hour)", fmt(time["slip_p99_pct_hour"], "pct100")],
        [
            "missed sessions / failed flows",
            f"{fmt(time['missed_sessions'])} / {fmt(time['failed_flows'])}",
        ],
    ]
    n = max(len(side), len(right))
    side += [["", ""]] * (n - len(side))
    right += [["", ""]] * (n - len(right))
    out.append(
        tabulate(
            [a + b for a, b in zip(side, right, strict=True)],
            headers=[f"behavior ({summary['behavior']['source']})", "", "offers / time", ""],
            tablefmt="simple",
            disable_numparse=True,
        )
    )
    out.append(f"orders per real minute: {fmt(summary.get('orders_per_real_minute'))}")
    acct = time.get("agent_hours_account")
    if acct:  # every live agent-hour acted, missed or not owed (reports.timing)
        sums = (f"{acct['live']} live = {acct['acted']} acted + {acct['missed']} missed + "
                f"{acct['not_owed']} not owed")  # fmt: skip
        off = ", ".join(f"hour {h}: {n:+d}" for h, n in sorted(acct["off_by_hour"].items()))
        out.append(f"agent-hours: {sums}" if acct["adds_up"] else
                   f"agent-hours do NOT add up ({off} unaccounted): {sums}")  # fmt: skip
    cal = summary.get("calibration") or {}
    if cal.get("checked"):
        fails = [m["metric"] for m in cal["metrics"] if m["status"] == "fail"]
        out.append("calibration: " + ("ok" if cal["ok"] else "FAIL " + ", ".join(fails)))
    for note in summary["sources"]["notes"]:
        out.append(f"note: {note}")
    return "\n\n".join(out[:2]) + "\n" + "\n".join(out[2:]) + "\n"
