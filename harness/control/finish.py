"""End of a run (master/standalone ``quitting``): record, clean up, write every output,
print the summary and decide the exit code (ARCHITECTURE §11)."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.agent.hourstats import percentile
from harness.config.options import ramp_fraction

log = logging.getLogger("loadsim")


def hours_rows(director: Any) -> list[dict[str, Any]]:
    o = director.opts
    sec_per_hour = 3600 / o.time_scale
    rows = []
    for h in sorted(director.agg.hours):
        b = director.agg.hours[h]
        c = b.counts
        p = {q: percentile(b.slips_ms, q) for q in (50, 95, 99)}
        frac = ramp_fraction(o.ramp, h)
        real = director.rt.clock.real_time_at(o.sim_start + timedelta(hours=h))
        rows.append(
            {
                "sim_hour": h,
                "sim_time": (o.sim_start + timedelta(hours=h)).isoformat(),
                "real_time": datetime.fromtimestamp(real, UTC).isoformat() if real else "",
                "stage_fraction": frac,
                "target_users": min(director.pool.size, math.ceil(frac * director.pool.size)),
                "live_users": director.users_at_hour.get(h, ""),
                **{
                    k: c.get(k, 0)
                    for k in (
                        "acted",
                        "shopped",
                        "idle",
                        "completed",
                        "abandoned",
                        "failed",
                        "missed",
                    )
                },
                "slip_p50_s": _s(p[50]),
                "slip_p95_s": _s(p[95]),
                "slip_p99_s": _s(p[99]),
                "slip_p99_pct_hour": round(p[99] / 1000 / sec_per_hour * 100, 4)
                if p[99] is not None
                else "",
                "orders": c.get("orders", 0),
                "offer_cycle": int(h // (24 * director.settings_cycle_days)),
            }
        )
    return rows


def _s(ms: float | None) -> float | str:
    return "" if ms is None else round(ms / 1000, 4)


def finish_run(director: Any) -> int | None:
    from harness.control.run_record import cleanup_orphans, end_run, release_all_leases

    run, files, env = director.run, director.files, director.env
    engine = director.engine
    if engine is not None:
        try:
            director.flush_leases()
            release_all_leases(engine, run_id=run.run_id)
            n = cleanup_orphans(engine, reason="run_stopped", run_id=run.run_id)
            if n:
                log.info("%d sessions still active at the end were marked abandoned", n)
                files.log_event("cleanup", run_stopped_sessions=n)
        except Exception:  # noqa: BLE001 - outputs below must still be written
            log.exception("end-of-run database cleanup failed")
    files.write_hours_csv(hours_rows(director))
    files.write_final_stats(env)
    exit_code = director.exit_code
    summary = None
    try:
        from reports.build import build_run_report
        from reports.console import render_console

        summary = build_run_report(files.dir, engine=engine)
        print(render_console(summary), flush=True)
    except ImportError:
        log.warning("reports package not available: no summary")
    except Exception:  # noqa: BLE001 - a report bug must not lose the run
        log.exception("building the run report failed")
    if exit_code is None and director.opts.thresholds and summary is not None:
        from reports.thresholds import evaluate, exit_code_for, parse_threshold

        results = evaluate([parse_threshold(t) for t in director.opts.thresholds], summary)
        for r in results:
            mark = "PASS" if r.ok else "FAIL"
            print(f"[{mark}] threshold {r.expr}: actual {r.actual}", flush=True)
        code = exit_code_for(results)
        if code:
            exit_code = code
    status = {None: "completed", 0: "completed", 5: "breaker"}.get(exit_code, "completed")
    if director.stopped_early:
        status = "stopped"
    last_hour = director.current_hour if director.current_hour >= 0 else None
    sim_end = director.rt.clock.now() if director.rt.clock else None
    if director.rt.sim_end is not None and sim_end is not None:
        sim_end = min(sim_end, director.rt.sim_end)
    if engine is not None:
        try:
            end_run(engine, run_id=run.run_id, status=status, sim_end=sim_end, last_hour=last_hour,
                    exit_code=exit_code if exit_code is not None else (1 if env.runner.errors else 0))  # fmt: skip
        except Exception:  # noqa: BLE001
            log.exception("could not record the end of the run")
    files.update_manifest(
        ended_at=datetime.now(UTC).isoformat(), status=status,
        exit_code=exit_code, sim_end=sim_end.isoformat() if sim_end else None,
    )  # fmt: skip
    files.log_event("run_end", status=status, exit_code=exit_code)
    log.info("run %s finished (%s); outputs in %s", run.run_id, status, files.dir)
    return exit_code
