"""End of a run (master/standalone ``quitting``): record, clean up, write every output,
print the summary and decide the exit code (docs/ARCHITECTURE.md, Failures and exit codes).

Every way a run ends comes through here — the simulated period done, the breaker or an
outage (exit 5), SIGTERM, Ctrl-C — and the report is most needed exactly when the run
went wrong. So each stage runs on its own: one that throws is logged and named in the
manifest (``end_errors``), and the stages after it still run. A report that cannot be
built fails every ``--threshold`` gate (exit 3 or 4, with the reason): CI must never
pass on figures nobody computed. Nor on a run that did nothing: a run that went through
its simulated hours without one agent-hour acted or counted missed (no user ever got a
persona, say — every grant lost on the way) fails with exit 3 and one ``[FAIL] run:``
line saying why (:func:`nothing_done`). Nor on one whose own bookkeeping failed: a duty of
the director's step (the hour book, the lease history, the heartbeat…) that failed attempt
after attempt (``SimulationDirector.step_failure``) fails it the same way
(:func:`run_failure`). Nor on one that reached its simulated end with live agent-hours
nobody acted, counted missed nor named not owed: its ``hours.csv`` rows do not add up,
and it fails the same way, naming the hours (:func:`unaccounted`). Agent-hours that
failed on the run's own database (a connection refused, say) fail a run that would
otherwise pass with exit 1, as a failed request to the target does (:func:`database_failures`).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.config.locust_compat import locust_exit_code
from harness.config.options import ramp_fraction
from offer_engine.calendar import cycle_of_hour, start_of_hour
from reports.hour_table import hour_row

if TYPE_CHECKING:
    from harness.agent.schedule import EndClock
    from harness.control.director import SimulationDirector
    from harness.control.hour_book import HourBook
    from offer_engine.clock import SimClock

log = logging.getLogger("loadsim")
_T = TypeVar("_T")

CLOSE_S = 10.0
"""After the drain deadline (``--drain-seconds`` past the simulated end): how long users
still in a session get to finish it (unpaced) and count what they still owed as missed,
and their processes to report it (a report every 3 s), before the run stops anyway."""


class RunEnd:
    """When a run with a simulated end is over — the shape's ``None`` (docs/ARCHITECTURE.md, Simulated time).

    Every slot before the simulated end gets its chance: the run ends as soon as no user
    of any process still owes an hour (``harness.agent.schedule.pending_hours``: this
    process's users directly, the workers' from their last report since the end). Late
    users have until the drain deadline (the end's real time + ``--drain-seconds``) to act;
    after it they count what they owe as missed, and the run waits :data:`CLOSE_S` more
    for that to be reported. Then it ends whatever the load: the users still owing count
    it missed as they stop, and what a worker's could no longer report is topped up as
    missed in ``hours.csv`` (the hour book's ``unheld``), so acted + missed still add up to
    the agents of each hour.
    """

    def __init__(
        self,
        *,
        rt: EndClock,
        book: HourBook,
        live_workers: Callable[[], Iterable[str]],
        stopped: Callable[[], bool],
        local: Callable[[], dict[int, int] | None],
    ) -> None:
        """
        Args:
            rt: the run's clock, simulated end and ``--drain-seconds`` (the process's
                runtime: its clock is replaced on pause/resume, so it is read there).
            book: the hour book (the current hour; owed hours topped up as missed).
            live_workers: the ids of the workers still connected.
            stopped: True once the run was stopped otherwise (a trip, a stop: end at once).
            local: this process's own users still owing, by hour (standalone: all of the
                run's; ``harness.agent.user.process_pending`` of Locust's runner).
        """
        self.rt = rt
        self.book = book
        self._live_workers = live_workers
        self._stopped = stopped
        self._local = local
        self._reports: dict[str, dict[int, int] | None] = {}
        self.ended: str | None = None
        """Why the run ended: "complete" (nothing owed) or "cut" (the bound)."""
        self.reached_at: float | None = None
        """When (epoch seconds) the clock was first seen past the simulated end."""

    def on_report(self, client_id: str, pending: dict[str, int] | None) -> None:
        """A worker's report: the users it still has owing an hour, by hour (``None``:
        its clock had not reached the end)."""
        self._reports[client_id] = (
            None if pending is None else {int(h): int(n) for h, n in pending.items()}
        )

    def pending(self) -> dict[int, int] | None:
        """Users still owing an hour, by hour, over every live process (``None``: a
        process has not reported since the simulated end yet)."""
        local = self._local()
        remote = self._remote()
        if local is None or remote is None:
            return None
        return {h: n for h, n in (Counter(local) + Counter(remote)).items() if n}

    def _remote(self) -> dict[int, int] | None:
        """The live workers' users still owing, by hour (``None``: one has not reported
        since the simulated end)."""
        total: Counter[int] = Counter()
        for cid in self._live_workers():
            theirs = self._reports.get(cid)
            if theirs is None:
                return None
            total.update(theirs)
        return dict(total)

    def finished(self) -> bool:
        """True once the run may stop (the shape then ends it); see the class."""
        from harness.agent.schedule import drain_deadline

        rt = self.rt
        if self._stopped() or self.ended is not None:
            return True
        if rt.sim_end is None or rt.clock is None or rt.clock.now() < rt.sim_end:
            return False
        if self.reached_at is None:
            self.reached_at = time.time()
        pending = self.pending()
        if pending == {}:
            self.ended = "complete"
            log.info("simulated end reached: every slot acted or counted missed "
                     "(%.1f s after the end)", self._since_end())  # fmt: skip
            return True
        deadline = drain_deadline(rt)
        if deadline is None or time.time() < deadline + CLOSE_S:
            return False  # paused, or late users still have time
        self.ended = "cut"
        if pending:
            last = self.book.current_hour
            # This process's users count what they owe when stopped (their counters are
            # merged at the end); a worker's last counts may not arrive: topped up.
            self.book.mark_cut(self._remote() or {}, last)
            log.warning(
                "run end: %d users still owed hours %d-%d %.0f s after the simulated end; "
                "stopping them, their hours counted missed", sum(pending.values()),
                min(pending), last, self._since_end(),
            )  # fmt: skip
        else:
            log.warning("run end: a process did not report after the simulated end; stopping")
        return True

    def _since_end(self) -> float:
        assert self.rt.clock is not None and self.rt.sim_end is not None
        real_end = self.rt.clock.real_time_at(self.rt.sim_end)
        return time.time() - real_end if real_end is not None else 0.0


def hours_rows(
    director: SimulationDirector, hours: list[int] | None = None
) -> list[dict[str, Any]]:
    """``hours.csv`` rows (``reports.hour_table`` columns) from the merged counters.

    Args:
        hours: which simulated hours (default: every hour the hour book entered —
            with counters or not — and any other hour with counters).
    """
    o = director.opts
    sec_per_hour = 3600 / o.time_scale
    clock = _running_view(director.rt.clock)
    segment = getattr(director.files, "segment", 1)
    book = getattr(director, "book", None)  # hours a dead worker held: counted missed
    leases = getattr(director, "leases", None)  # the lease book: live agent-hours
    rows = []
    for h in sorted(director.agg.hours) if hours is None else hours:
        b = director.agg.get(h)
        unheld = book.unheld(h) if book is not None else 0
        c = {**b.counts, "missed": b.counts.get("missed", 0) + unheld}
        p = {q: b.slip_percentile(q) for q in (50, 95, 99)}
        frac = ramp_fraction(o.ramp, h)
        sim_t = start_of_hour(o.sim_start, h)
        real = clock.real_time_at(sim_t) if clock is not None else None
        rows.append(
            hour_row(
                {
                    "sim_hour": h,
                    "sim_time": sim_t.isoformat(),
                    "real_time": datetime.fromtimestamp(real, UTC).isoformat() if real else "",
                    "stage_fraction": frac,
                    "target_users": min(director.pool.size, math.ceil(frac * director.pool.size)),
                    "live_users": leases.live_at(h) if leases is not None else "",
                    **{k: c.get(k, 0) for k in ("acted", "shopped", "idle", "completed")},
                    **{k: c.get(k, 0) for k in ("abandoned", "failed", "missed", "orders")},
                    "unheld": unheld,
                    "slip_p50_s": _s(p[50]),
                    "slip_p95_s": _s(p[95]),
                    "slip_p99_s": _s(p[99]),
                    "slip_p99_pct_hour": round(p[99] / 1000 / sec_per_hour * 100, 4)
                    if p[99] is not None
                    else "",
                    "offer_cycle": cycle_of_hour(h, director.settings_cycle_days),
                    "segment": segment,
                    "not_owed": c.get("not_owed", 0),
                    "locust_users": director.users_at_hour.get(h, ""),
                    "real_start": _instant(getattr(book, "began_at", {}).get(h)),
                    "real_end": _instant(getattr(book, "ended_at", {}).get(h)),
                }
            )
        )
    return rows


def _running_view(clock: SimClock | None) -> SimClock | None:
    """The clock as it ran up to now: a paused clock (breaker, outage) reaches nothing,
    but it did reach every hour before the pause — at the times it would have read then."""
    if clock is not None and clock.paused:
        return clock.resume(real=clock.real_t0)
    return clock


def _instant(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat() if t is not None else ""


def _s(ms: float | None) -> float | str:
    return "" if ms is None else round(ms / 1000, 4)


def append_hour(director: SimulationDirector, hour: int) -> None:
    """Hour ``hour`` is reported: add its row to ``hours.csv`` now, so a master killed
    later (SIGKILL, OOM) leaves its hours behind for the report and ``--resume``."""
    if director.files is None:
        return
    try:
        director.files.append_hours(hours_rows(director, [hour]))
    except Exception:  # noqa: BLE001 - the final write at the end rewrites the rows
        log.exception("could not append simulated hour %d to hours.csv", hour)


def _write_llm(director: SimulationDirector, run_dir: Path) -> None:
    from harness.agent.llm import drain, write_llm_json

    rt, totals = director.rt, director.rt.llm_totals
    assert totals is not None  # --llm-url (finish_run checks)
    if rt.llm is not None:  # standalone: this process decided too
        totals.merge(drain(rt.llm, rt.llm_sent))
    write_llm_json(run_dir, totals.block())


def finish_run(director: SimulationDirector) -> int | None:
    """Stop the director, then write every output whatever fails; returns the exit code
    the harness wants (None: leave Locust's)."""
    if director.run is None or director.files is None:
        return None
    run_id = director.run.run_id
    failed: list[str] = []

    def stage(name: str, fn: Callable[[], _T]) -> _T | None:
        try:
            return fn()
        except Exception:  # noqa: BLE001 - the outputs after this stage must still be written
            log.exception("end of run: %s failed", name)
            failed.append(name)
            return None

    files, env, engine = director.files, director.env, director.engine
    stage("stopping the director's loops", director.stop_loops)
    if director.exit_code is None:
        stage("exit checkpoint", lambda: director.checkpoint(reason="exit"))
    stage("last counters", lambda: director.agg.merge(director.rt.collector.drain()))
    stage("harness_timings.csv", lambda: director.rt.timings.write_run_csv(files.dir))
    if director.rt.llm_totals is not None:  # --llm-url: llm.json
        stage("llm.json", lambda: _write_llm(director, files.dir))
    if engine is not None:
        stage("database clean-up", lambda: _cleanup_database(director))
    stage("hours.csv", lambda: files.write_hours_csv(hours_rows(director)))
    stage("Locust stats", lambda: files.write_final_stats(env))
    exit_code = director.exit_code
    nothing = None if exit_code is not None else stage("accounting", lambda: run_failure(director))
    status = "breaker" if exit_code == 5 else "completed"
    if director.stopped_early:
        status = "stopped"
    sim_end = _sim_end(director)
    # How the segment ended goes in the manifest before the report reads it, so the
    # report says when its figures are partial.
    stage(
        "manifest",
        lambda: files.end_segment(
            ended_at=datetime.now(UTC).isoformat(), status=status, exit_code=exit_code,
            sim_end=sim_end.isoformat() if sim_end else None, end_errors=failed or None,
        ),
    )  # fmt: skip
    summary, why = _build_report(director)
    if summary is None:
        failed.append("report")
    experiment = getattr(director, "experiment", None)
    if experiment is not None and engine is not None:  # --experiment: experiment.json + plot
        from reports.experiment_data import write_readout

        exp = experiment.experiment
        stage("experiment readout", lambda: write_readout(
            files.dir, engine, run_id=run_id, control=exp.control,
            arms=[a.describe() for a in exp.arms],
        ))  # fmt: skip
    from reports.dataset import write_run_dataset  # one log line if it fails, never raises

    write_run_dataset(files.dir, engine)
    if director.opts.thresholds:
        if exit_code is None:
            try:
                exit_code = judge_gates(director.opts.thresholds, summary, why)
            except Exception:  # noqa: BLE001 - gates nobody could judge must fail
                log.exception("judging the --threshold gates failed: they fail")
                failed.append("gates")
                exit_code = 3
        else:
            log.warning("--threshold gates not judged: the run stopped with exit %d", exit_code)
    if nothing:
        print(f"[FAIL] run: {nothing}", flush=True)
        log.error("the run fails (exit 3): %s", nothing)
        exit_code = 3  # a load failure: it takes precedence over a behavior gate's 4
    elif exit_code is None:  # nothing else failed it: hours the database refused do
        nothing = stage("database failures", lambda: database_failures(director))
        if nothing:
            print(f"[FAIL] run: {nothing}", flush=True)
            log.error("the run fails (exit 1): %s", nothing)
            exit_code = 1
    # What this process exits with: the harness's code, or Locust's own rule's when the
    # harness leaves it — so the manifest and the run record say 0 for a clean run.
    final = exit_code if exit_code is not None else locust_exit_code(env)
    stage("run record", lambda: _record_end(director, status, final))
    why_failed = {"failure": nothing} if nothing else {}
    stage("manifest", lambda: files.end_segment(exit_code=final, end_errors=failed or None,
                                                **why_failed))  # fmt: skip
    stage("run log", lambda: files.log_event("run_end", status=status, exit_code=final,
                                             end_errors=failed or None))  # fmt: skip
    log.info("run %s finished (%s); outputs in %s", run_id, status, files.dir)
    return exit_code


def run_failure(director: SimulationDirector) -> str | None:
    """Why a run nothing stopped still fails (exit 3): its director's step failed
    (``SimulationDirector.step_failure``), it did nothing (:func:`nothing_done`), or its
    hours do not add up (:func:`unaccounted`)."""
    return (
        getattr(director, "step_failure", None) or nothing_done(director) or unaccounted(director)
    )


def database_failures(director: SimulationDirector) -> str | None:
    """Why a run fails with exit 1 when nothing else failed it: agent-hours that failed on
    the run's own database — error kind ``db``: a connection refused (a role's
    ``CONNECTION LIMIT`` below ``--db-connections``, the server's ``max_connections``) or
    lost, a statement timed out. They are failed hours in ``hours.csv``, but no failed
    request in Locust's statistics, so Locust's own exit code would say 0. ``None``: none."""
    failed = {h: b.errors.get("db", 0) for h, b in director.agg.hours.items()}
    hours = sorted(h for h, n in failed.items() if n)
    if not hours:
        return None
    span = f"hour {hours[0]}" if len(hours) == 1 else f"hours {hours[0]}-{hours[-1]}"
    return (f"{sum(failed.values())} agent-hours failed on the run's database (error kind "
            f"db, {span}): connections refused or lost, or statements timed out — see the "
            "log")  # fmt: skip


def unaccounted(director: SimulationDirector) -> str | None:
    """Why a run that reached its simulated end fails although nothing stopped it: live
    agent-hours of the lease book no process acted, counted missed nor named not owed
    (``hours.csv``'s rows do not add up: figures nobody counted must not pass as a clean
    run). ``None``: every hour adds up, or the run was stopped before its end."""
    leases, book = getattr(director, "leases", None), getattr(director, "book", None)
    if director.stopped_early or leases is None or book is None:
        return None
    if getattr(director, "sim_end_reached_at", None) is None:
        return None  # ended before its simulated end: its last hours are partial
    gaps = book.unaccounted(leases.live_at)
    if not gaps:
        return None
    named = ", ".join(f"hour {h}: {n}" for h, n in list(gaps.items())[:5])
    more = f" and {len(gaps) - 5} more hours" if len(gaps) > 5 else ""
    return (f"{sum(gaps.values())} live agent-hours were neither acted, counted missed nor "
            f"not owed ({named}{more}): hours.csv's rows do not add up")  # fmt: skip


def nothing_done(director: SimulationDirector) -> str | None:
    """Why the run failed although nothing stopped it: it reached its simulated end, or
    went through a whole simulated hour, and not one agent-hour was acted or counted missed
    (``None``: it did something, or it was stopped — SIGTERM, Ctrl-C, the web UI in its
    first hour — before it could)."""
    reached_end = getattr(director, "sim_end_reached_at", None) is not None
    if director.stopped_early or (not reached_end and director.current_hour < 1):
        return None
    totals = director.agg.totals()
    # Hours not owed (joined after its slot; a resumed segment's hours already done) are
    # something: only a run whose agents never held an hour fails here.
    if sum(totals.get(k, 0) for k in ("acted", "missed", "not_owed")) > 0:
        return None
    hours = director.current_hour + 1
    why = f"no agent-hour was acted or counted missed in {hours} simulated hour(s)"
    lease_failures = sum(b.errors.get("lease", 0) for b in director.agg.hours.values())
    leases = getattr(director, "leases", None)
    lost = getattr(leases, "lost_grants", 0)
    if lease_failures or lost:
        why += (
            f": {lease_failures} lease requests got no answer in time and {lost} grants never "
            "reached their worker (dropped or malformed on the way — see the log)"
        )
    else:
        live = sum(leases.live_at(h) for h in range(hours)) if leases is not None else 0
        why += f" ({live} live agent-hours in the lease book)"
    return why


def _cleanup_database(director: SimulationDirector) -> None:
    from harness.control.run_record import cleanup_orphans, release_all_leases

    run, engine, files = director.run, director.engine, director.files
    assert run is not None and engine is not None and files is not None  # finish_run checks
    director.flush_leases()
    release_all_leases(engine, run_id=run.run_id)
    n = cleanup_orphans(engine, reason="run_stopped", run_id=run.run_id)
    if n:
        log.info("%d sessions still active at the end were marked abandoned", n)
        files.log_event("cleanup", run_stopped_sessions=n)


def _build_report(director: SimulationDirector) -> tuple[dict[str, Any] | None, str]:
    """(summary, why it is None). Partial data is reported as partial (see
    ``reports.build``); None only when no summary could be computed at all."""
    assert director.files is not None  # finish_run checks
    try:
        from reports.build import build_run_report

        summary = build_run_report(director.files.dir, engine=director.engine)
    except Exception as exc:  # noqa: BLE001 - a report bug must not lose the run
        log.exception("building the run report failed")
        lines = str(exc).strip().splitlines()
        return None, f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
    try:
        from reports.console import render_console

        print(render_console(summary), flush=True)
    except Exception:  # noqa: BLE001 - summary.json is written; the console is a courtesy
        log.exception("printing the run summary failed")
    return summary, ""


def judge_gates(thresholds: Sequence[str], summary: dict[str, Any] | None, why: str) -> int | None:
    """Evaluate ``--threshold`` gates and print one line each; the exit code they ask for
    (None: every gate held). Without a summary every gate FAILS, naming why — a gate
    nobody could check must not pass."""
    from reports.thresholds import GateResult, evaluate, exit_code_for, parse_threshold

    gates = [parse_threshold(t) for t in thresholds]
    if summary is None:
        results = [
            GateResult(g.expr, False, None, g.limit, g.kind, f"not checked: no report ({why})")
            for g in gates
        ]
        for r in results:
            print(f"[FAIL] threshold {r.expr}: {r.detail}", flush=True)
        log.error("--threshold gates fail: the run's report could not be built (%s)", why)
    else:
        results = evaluate(gates, summary)
        for r in results:
            mark = "PASS" if r.ok else "FAIL"
            print(f"[{mark}] threshold {r.expr}: actual {r.actual}", flush=True)
    return exit_code_for(results) or None


def _sim_end(director: SimulationDirector) -> datetime | None:
    clock = director.rt.clock
    sim_end = clock.now() if clock is not None else None
    if director.rt.sim_end is not None and sim_end is not None:
        sim_end = min(sim_end, director.rt.sim_end)
    return sim_end


def _record_end(director: SimulationDirector, status: str, exit_code: int | None) -> None:
    from harness.control.run_record import end_run

    if director.engine is None or director.run is None:
        return
    last_hour = director.current_hour if director.current_hour >= 0 else None
    code = exit_code if exit_code is not None else (1 if director.rt.runner.errors else 0)
    end_run(director.engine, run_id=director.run.run_id, status=status,
            sim_end=_sim_end(director), last_hour=last_hour, exit_code=code)  # fmt: skip
