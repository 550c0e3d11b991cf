"""Helpers for end-to-end tests: real ``locust`` processes against a real Postgres and the
reference API the harness starts itself on loopback. Bounded in time and count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "locustfile.py"


def seed_small_population(engine: Engine, *, n: int, seed: int = 7) -> None:
    """Synthetic catalog + ``n`` generated personas, committed."""
    from personas.catalog import generate_catalog, seed_catalog
    from personas.sample import generate_personas
    from personas.seed import seed_personas

    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=seed))
        seed_personas(conn, personas=generate_personas(n, seed=seed))


def locust_cmd(*args: str, locustfile: Path = LOCUSTFILE) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(locustfile), *args]


def harness_env(db_url: str | None, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env.pop("DATABASE_URL", None)
    if db_url:
        env["DATABASE_URL"] = db_url
    env["LOADSIM_HOME"] = str(tmp / ".loadsim")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_locust(
    args: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 240,
    locustfile: Path = LOCUSTFILE,
) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            locust_cmd(*args, locustfile=locustfile),
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stderr or b"").decode(errors="replace")
        raise AssertionError(
            f"locust {' '.join(args)} ran over {timeout}s:\n{out[-4000:]}"
        ) from None


def start_locust(
    args: list[str], *, env: dict[str, str], cwd: Path, log: Path, locustfile: Path = LOCUSTFILE
) -> subprocess.Popen:
    fh = open(log, "w")  # noqa: SIM115 - closed by the caller's process end
    return subprocess.Popen(
        locust_cmd(*args, locustfile=locustfile),
        env=env,
        cwd=cwd,
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return proc.returncode


def wait_for(predicate, *, timeout: float, every: float = 0.2, what: str = "condition") -> None:
    """Poll ``predicate`` until true (every 0.2 s: a run waited on is 1800x, where half a
    second is a quarter of a simulated hour and ~60 waits per suite add up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


PLOTS = ("ramp", "load", "sessions_orders", "slip", "funnel")


def assert_full_report(run_dir: Path) -> dict:
    """Every run, whatever stopped it, leaves its whole report: ``summary.json``,
    ``summary.txt``, ``report.html``, ``report.xlsx``, every plot and ``hours.csv`` with
    rows. Returns the summary."""
    import json

    missing = [n for n in ("summary.json", "summary.txt", "report.html", "report.xlsx",
                           "hours.csv", "manifest.json")
               if not (run_dir / n).is_file()]  # fmt: skip
    missing += [f"plots/{p}.png" for p in PLOTS if not (run_dir / "plots" / f"{p}.png").is_file()]
    assert not missing, f"{run_dir.name}: missing {missing}"
    assert len((run_dir / "hours.csv").read_text().splitlines()) >= 2, "hours.csv has no rows"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "errors" not in summary["outputs"], summary["outputs"]
    return summary


def hours_in_csv(run_dir: Path) -> list[int]:
    """The simulated hours ``hours.csv`` has rows for (each once, sorted)."""
    import csv

    with open(run_dir / "hours.csv", newline="") as fh:
        return sorted({int(r["sim_hour"]) for r in csv.DictReader(fh)})


# ------------------------------------------------------------------ database assertions


def lease_overlaps(engine: Engine, run_id: str) -> int:
    """Pairs of leases of one persona whose holding intervals overlap (must be 0).

    This is the master's own bookkeeping (``persona_leases`` is written by the lease
    pool): it shows the master never *granted* a persona twice, not that no two users
    *acted* as one — ``acting_overlaps`` checks that from what the agents wrote."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                """
                SELECT count(*) FROM persona_leases a JOIN persona_leases b
                  ON a.run_id = b.run_id AND a.agent_id = b.agent_id AND a.id < b.id
                 AND a.leased_at < coalesce(b.released_at, 'infinity')
                 AND b.leased_at < coalesce(a.released_at, 'infinity')
                WHERE a.run_id = :r
                """
            ),
            {"r": run_id},
        ).scalar_one()


ACTING_OVERLAPS = """
WITH acted AS (
    -- The process that acted each hour: agent_hours.worker is "<process>" for quiet
    -- hours and "<process>/<claim token>" for claimed ones. Missed hours are accounting,
    -- not acting: nobody played them, so they cannot show two players.
    SELECT agent_id, split_part(worker, '/', 1) AS proc, min(sim_hour) AS first,
           max(sim_hour) AS last
    FROM agent_hours WHERE run_id = :r AND NOT is_replay AND decision <> 'missed'
    GROUP BY agent_id, split_part(worker, '/', 1)
)
SELECT a.agent_id, a.proc, a.first, a.last, b.proc, b.first, b.last
FROM acted a JOIN acted b ON a.agent_id = b.agent_id AND a.proc < b.proc
WHERE a.first <= b.last AND b.first <= a.last   -- interleaved simulated hours
ORDER BY 1
"""


def acting_overlaps(engine: Engine, run_id: str) -> list[tuple]:
    """Personas that two processes acted as at once, from the rows the agents wrote
    (must be empty): per agent and writing process, the span of simulated hours; two
    processes' spans of one agent must not interleave (each hour is claimed once, so two
    users acting as one persona win alternate hours). A persona handed over (a killed
    worker's, reclaimed) shows as consecutive, disjoint spans. Replayed hours of a
    resumed run (re-run on purpose) and missed hours (nobody acted) are left out."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(ACTING_OVERLAPS), {"r": run_id}).all()]


def hour_gaps(engine: Engine, run_id: str, last_hour: int) -> list[tuple[int, int, int]]:
    """Agents whose recorded hours are not one contiguous run up to ``last_hour``:
    (agent, first hour, hours recorded). Every slot of a leased persona is accounted
    for — acted, or recorded as ``missed`` when the box could not keep up (how many is a
    speed figure: ``missed_hours``)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT agent_id, min(sim_hour) AS first, max(sim_hour) AS last, count(*) AS n
                FROM agent_hours WHERE run_id = :r
                GROUP BY agent_id
                """
            ),
            {"r": run_id},
        ).all()
    return [
        (r.agent_id, r.first, r.n)
        for r in rows
        if r.last < last_hour or r.n != r.last - r.first + 1
    ]


def missed_hours(engine: Engine, run_id: str) -> tuple[int, int]:
    """(missed, all) agent-hours of a run: a benchmark figure, not an invariant — at
    1800x a busy box misses slots, and the harness records them honestly."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE decision = 'missed'), count(*) "
                "FROM agent_hours WHERE run_id = :r"
            ),
            {"r": run_id},
        ).one()
    return int(row[0]), int(row[1])


def distinct_agents_by_hour(engine: Engine, run_id: str) -> dict[int, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT sim_hour, count(DISTINCT agent_id) FROM agent_hours "
                    "WHERE run_id = :r GROUP BY sim_hour ORDER BY sim_hour"
                ),
                {"r": run_id},
            ).all()
        )


def count(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


PREFLIGHT_AGENTS = ("loadsim-preflight", "Python-urllib/")
"""User agents of the requests sent before the load starts (the start-up probe and the
embedded API's readiness poll): Locust clears its statistics when the test starts."""


CUT_AT_STOP = frozenset({("GET", "/health"), ("POST", "/time/advance")})
"""The director's loops (health probe, clock) are killed at the end of the run: a request
they had sent may reach the API while its answer, and so Locust's count of it, is cut off —
one at most per loop. Every other endpoint's count must be equal."""


def _endpoint(method: str, path: str) -> tuple[str, str]:
    """(method, path) with ids as ``{id}`` and no query: Locust's names and the API's raw
    paths compare on this (``/api/offers/12/view`` = ``/api/offers/{id}/view``,
    ``/api/products?…`` = ``/api/products``)."""
    path = path.split("?", 1)[0]
    parts = ["{id}" if p.isdigit() else p for p in path.split("/")]
    return method.upper(), "/".join(parts)


def assert_locust_counts_equal_api(run_dir: Path, request_log: Path) -> dict[str, int]:
    """Locust's statistics hold exactly the HTTP requests the API received: every row of
    ``locust_stats.csv`` is an HTTP method, and per endpoint its count equals the API's
    access log (``REFERENCE_API_REQUEST_LOG``), the requests before the load started
    (:data:`PREFLIGHT_AGENTS`: a few ``GET``s — a probe loop left outside Locust during
    the run would be one a second) aside. The one allowance is :data:`CUT_AT_STOP`.
    Returns the figures."""
    import csv
    from collections import Counter

    from reference_api.request_log import read_request_log

    http = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
    with open(run_dir / "locust_stats.csv") as fh:
        rows = list(csv.DictReader(fh))
    (agg,) = [r for r in rows if r["Name"] == "Aggregated"]
    endpoints = [r for r in rows if r["Name"] != "Aggregated"]
    assert {r["Type"] for r in endpoints} <= http, sorted({r["Type"] for r in endpoints})
    locust = Counter()
    for r in endpoints:
        locust[_endpoint(r["Type"], r["Name"])] += int(r["Request Count"])
    lines = read_request_log(request_log)
    pre = [x for x in lines if x["user_agent"].startswith(PREFLIGHT_AGENTS)]
    api = Counter(
        _endpoint(x["method"], x["path"])
        for x in lines
        if not x["user_agent"].startswith(PREFLIGHT_AGENTS)
    )
    assert {x["method"] for x in pre} <= {"GET"} and len(pre) <= 5, Counter(
        (x["method"], x["path"]) for x in pre
    )
    diff = {ep: api[ep] - locust[ep] for ep in set(api) | set(locust) if api[ep] != locust[ep]}
    assert all(ep in CUT_AT_STOP and d == 1 for ep, d in diff.items()), (diff, locust, api)
    assert int(agg["Request Count"]) == sum(locust.values()) > 0
    figures = {"locust": int(agg["Request Count"]), "api": len(lines), "preflight": len(pre),
               "cut_at_stop": len(diff)}  # fmt: skip
    print(f"[figure] {run_dir.name}: Locust {figures['locust']} requests, API received "
          f"{figures['api']} ({figures['preflight']} before the load started)")  # fmt: skip
    return figures
