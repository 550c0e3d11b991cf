"""Run ``locust -f locustfile.py`` headless as a subprocess and measure it from outside.

Shared by the harness bench scripts (not itself a bench: the Makefile runs ``bench_*.py``).
The run is sampled with psutil every ``sample_s``: CPU seconds and resident memory of the
locust process and every child it forks (``--processes N``), so the harness's own cost is
measured without touching it. ``hours.csv`` gives the simulated-time figures.
"""

from __future__ import annotations

import csv
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@dataclass
class ProcSample:
    """What one process of the run looked like at one instant."""

    t: float  # seconds since the run was started
    pid: int
    cpu_s: float  # user + system, cumulative
    rss: int  # bytes


@dataclass
class HarnessRun:
    """A finished run: its exit code, process samples and simulated-hour rows."""

    run_id: str
    run_dir: Path
    rc: int
    wall_s: float
    samples: list[ProcSample] = field(default_factory=list)
    spawned_at: float | None = None  # when Locust logged "All users spawned"
    hours: list[dict[str, str]] = field(default_factory=list)
    stats: list[dict[str, str]] = field(default_factory=list)
    log_path: Path | None = None

    def cpu_s(self, pid: int | None = None) -> float:
        """Total CPU seconds of the run (last sample of each process), or of one pid."""
        last: dict[int, float] = {}
        for s in self.samples:
            last[s.pid] = s.cpu_s
        if pid is not None:
            return last.get(pid, 0.0)
        return sum(last.values())

    def pids(self) -> list[int]:
        return sorted({s.pid for s in self.samples})

    def rss_at(self, pid: int, t0: float, t1: float) -> int | None:
        """Median RSS of ``pid`` between ``t0`` and ``t1`` seconds into the run."""
        xs = sorted(s.rss for s in self.samples if s.pid == pid and t0 <= s.t <= t1)
        return xs[len(xs) // 2] if xs else None

    def rss_before_spawn(self, pid: int) -> int | None:
        """RSS of ``pid`` in the last sample before users were spawned."""
        if self.spawned_at is None:
            return None
        xs = [s.rss for s in self.samples if s.pid == pid and s.t < self.spawned_at]
        return xs[-1] if xs else None

    def cpu_between(self, t0: float, t1: float) -> float:
        """CPU seconds all processes used between two instants of the run."""
        total = 0.0
        for pid in self.pids():
            xs = [s for s in self.samples if s.pid == pid]
            a = [s.cpu_s for s in xs if s.t <= t0]
            b = [s.cpu_s for s in xs if s.t <= t1]
            total += (b[-1] if b else 0.0) - (a[-1] if a else 0.0)
        return total

    skip_hours: int = 1  # hours counted from here on (hour 0 starts before users spawn)

    def steady_hours(self) -> list[dict[str, str]]:
        """Simulated hours from ``skip_hours`` on (hour 0 starts before users are spawned)."""
        return [h for h in self.hours if int(h["sim_hour"]) >= self.skip_hours]

    def slip_p99_pct(self) -> float | None:
        xs = [float(h["slip_p99_pct_hour"]) for h in self.steady_hours() if h["slip_p99_pct_hour"]]
        return max(xs) if xs else None

    def total(self, column: str, *, steady: bool = True) -> int:
        rows = self.steady_hours() if steady else self.hours
        return sum(int(h[column] or 0) for h in rows)

    def requests(self, request_type: str | None = None) -> int:
        """Locust's request count (Aggregated row, or the sum of one request type)."""
        if request_type is None:
            return sum(int(r["Request Count"]) for r in self.stats if r["Name"] == "Aggregated")
        return sum(int(r["Request Count"]) for r in self.stats if r["Type"] == request_type)

    def stat(self, request_type: str, column: str) -> float:
        for r in self.stats:
            if r["Type"] == request_type:
                return float(r[column])
        return 0.0


def machine() -> str:
    """One line naming the machine the figures come from."""
    load = os.getloadavg()
    return (
        f"{platform.node()} · {platform.python_implementation()} {platform.python_version()} · "
        f"{psutil.cpu_count()} cores · load avg {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} · "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )


def locust_cmd(args: list[str], *, locustfile: str = "locustfile.py") -> list[str]:
    return [str(VENV_BIN / "locust"), "-f", locustfile, "--headless", "--only-summary", *args]


def run_locust(
    args: list[str],
    *,
    run_id: str,
    runs_dir: Path,
    timeout_s: float,
    locustfile: str = "locustfile.py",
    env: dict[str, str] | None = None,
    sample_s: float = 1.0,
    harness: bool = True,
    profile: tuple[float, float, Path] | None = None,
) -> HarnessRun:
    """Start a headless locust run, sample its process tree until it exits, parse outputs.

    Args:
        args: Locust/harness options (``--headless`` and ``-f`` are added).
        run_id: The harness run id (``--run-id``); also names the log file.
        runs_dir: Parent of the run directory (``--runs-dir``).
        timeout_s: The run is sent SIGTERM after this many seconds, SIGKILL 20 s later.
        locustfile: Path relative to the repo root.
        env: Extra environment variables.
        sample_s: Seconds between psutil samples.
        harness: Add ``--run-id``/``--runs-dir`` and read ``hours.csv`` (False for plain runs).
        profile: ``(delay_s, duration_s, out)``: ``delay_s`` after users were spawned, record
            the (first) user process with py-spy for ``duration_s`` into ``out`` (raw format).

    Returns:
        The finished run with samples, hours and Locust's stats rows.
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_dir = runs_dir / run_id
    log_path = runs_dir / f"{run_id}.log"
    full = list(args)
    if harness:
        full += ["--run-id", run_id, "--runs-dir", str(runs_dir)]
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        full += ["--csv", str(run_dir / "locust")]
    cmd = locust_cmd(full, locustfile=locustfile)
    penv = dict(os.environ, **(env or {}))
    penv.setdefault("LOADSIM_HOME", str(runs_dir / ".loadsim"))
    t_start = time.monotonic()
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=penv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    run = HarnessRun(run_id=run_id, run_dir=run_dir, rc=-1, wall_s=0.0, log_path=log_path)
    root = psutil.Process(proc.pid)
    killed = False
    spy: subprocess.Popen[bytes] | None = None
    try:
        while proc.poll() is None:
            t = time.monotonic() - t_start
            _sample(root, t, run.samples)
            if run.spawned_at is None and _spawned(log_path):
                run.spawned_at = t
            if profile and spy is None and run.spawned_at and t >= run.spawned_at + profile[0]:
                spy = _py_spy(user_pids(run)[0], profile[1], profile[2])
            if t > timeout_s and not killed:
                os.killpg(proc.pid, signal.SIGTERM)
                killed = True
            if t > timeout_s + 20:
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(sample_s)
    finally:
        if proc.poll() is None:  # interrupted: never leave a run behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if spy is not None:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
    run.rc = proc.returncode
    run.wall_s = time.monotonic() - t_start
    hours_csv = run_dir / "hours.csv"
    if hours_csv.exists():
        with open(hours_csv, newline="") as f:
            run.hours = list(csv.DictReader(f))
    stats_csv = run_dir / ("locust_stats.csv")
    if stats_csv.exists():
        with open(stats_csv, newline="") as f:
            run.stats = list(csv.DictReader(f))
    return run


def _sample(root: psutil.Process, t: float, out: list[ProcSample]) -> None:
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for p in procs:
        try:
            # Only Locust processes (a forked ``--processes`` child has the parent's command
            # line); reference_api and Postgres are the target, not the client.
            if p is not root and "locust" not in " ".join(p.cmdline()):
                continue
            with p.oneshot():
                c = p.cpu_times()
                out.append(ProcSample(t, p.pid, c.user + c.system, p.memory_info().rss))
        except psutil.Error:
            continue


def _spawned(log_path: Path) -> bool:
    try:
        return b"All users spawned" in log_path.read_bytes()
    except OSError:
        return False


def user_pids(run: HarnessRun) -> list[int]:
    """The processes that ran users: the forked children with ``--processes N`` (the
    parent is then the master), otherwise the standalone process itself."""
    pids = run.pids()
    root = run.samples[0].pid if run.samples else None
    return [p for p in pids if p != root] if len(pids) > 1 else pids


def workbook(n: int, cache_dir: Path, *, seed: int = 7, **overrides: Any) -> Path:
    """A persona workbook of ``n`` generated personas (cached: writing 10,000 takes ~30 s).

    ``overrides`` set attributes on every persona (e.g. ``shopping_frequency=0``)."""
    suffix = "".join(f"_{k}-{v}" for k, v in sorted(overrides.items()))
    path = cache_dir / f"personas_{n}_s{seed}{suffix}.xlsx"
    if path.exists():
        return path
    from personas.sample import generate_personas, write_workbook

    cache_dir.mkdir(parents=True, exist_ok=True)
    personas = generate_personas(n, seed=seed)
    if overrides:
        personas = [p.model_copy(update=overrides) for p in personas]
    tmp = path.with_suffix(".tmp.xlsx")
    write_workbook(personas, tmp)
    tmp.rename(path)  # a half-written workbook is never picked up from the cache
    return path


def _py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
    if exe is None:
        print("# --profile: py-spy is not installed (pip install py-spy); no profile")
        return None
    cmd = [exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "100", "-f", "raw",
           "-o", str(out), "--nonblocking"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# Where a worker's CPU goes, by the innermost matching frame of each sample's stack.
PROFILE_BUCKETS = (
    ("LangGraph graph (Pregel.invoke)", "Pregel.invoke"),
    ("hour decision (decide_shop)", "decide_shop"),
    ("recorder (DB writes)", "recorder.py"),
    ("HTTP shop", "http_shop.py"),
    ("agent hour bookkeeping (PersonaUser.act)", "PersonaUser.act"),
    ("user start (on_start)", "PersonaUser.on_start"),
    ("Locust scheduling / wait_time", "User.run"),
    ("other: gevent hub, Locust runner and stats, messages (+ director)", ""),
)


def profile_shares(raw: Path) -> list[tuple[str, float]]:
    """Share of samples per bucket: each sample counts once, for the first bucket (in
    ``PROFILE_BUCKETS`` order) whose marker appears in its stack."""
    counts = dict.fromkeys((b for b, _ in PROFILE_BUCKETS), 0)
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, n = line.rpartition(" ")
        total += int(n)
        for bucket, marker in PROFILE_BUCKETS:
            if marker in stack:
                counts[bucket] += int(n)
                break
    return [(b, c / total) for b, c in counts.items()] if total else []
