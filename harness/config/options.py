"""Harness options (docs/ARCHITECTURE.md, settings and outputs): Locust command line, ``locust.conf`` and
``LOCUST_*`` environment variables, shown in the web UI where Locust allows.

``register_options`` is attached to ``init_command_line_parser``, which fires in every
process and again on web-UI renders, so it must be repeat-safe (it is: argparse refuses
duplicates, and we skip options already present). ``HarnessOptions.from_parsed`` turns
the parsed namespace into one typed, validated object; bad values raise ``ConfigError``
(exit 2).
"""

from __future__ import annotations

import argparse
import math
import re
import weakref
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from db.errors import ConfigError

if TYPE_CHECKING:
    from db.settings import SimSettings

DEFAULT_SIM_START = "2026-01-05T00:00:00+00:00"  # a Monday 00:00 UTC: comparable runs
DEFAULT_RAMP = "0:10,2:25,4:50,6:75,8:100"  # the owner's plan: 10/25/50/75/100 % every 2 sim hours

_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--time-scale", dict(type=float, default=168.0, help="simulated seconds per real second (48–168 typical)")),
    ("--sim-start", dict(default=DEFAULT_SIM_START, help="simulated start instant, ISO 8601")),
    ("--sim-duration", dict(default="", help="simulated length of the run, e.g. 7d, 36h, 90m (empty: until stopped)")),
    ("--ramp", dict(default=DEFAULT_RAMP, help="warm-up stages 'simhour:percent,…' of the active personas")),
    ("--rate-limit", dict(type=float, default=50.0, help="requests/s for the whole run, all workers together (0: off)")),
    ("--breaker-threshold", dict(type=float, default=5.0, help="pause when more than this %% of an hour's active agents fail")),
    ("--checkpoint-every", dict(type=int, default=10, help="checkpoint every N simulated hours")),
    ("--resume", dict(default="", help="resume a run: RUN_ID, or 'last'")),
    ("--run-id", dict(default="", help="run id (default: generated)")),
    ("--mock-api", dict(action="store_true", default=False, help="in-memory shop instead of HTTP (harness-only runs)")),
    ("--mock-db", dict(action="store_true", default=False, help="no database: personas from the workbook, no writes")),
    ("--seed", dict(type=int, default=42, help="run seed: decisions, persona order, offsets")),
    ("--personas", dict(default="", help="persona workbook for seeding/--mock-db (default: bundled 372-persona sample)")),
    ("--browse-via", dict(default="cache", choices=["cache", "api"], help="browse the catalog from the shared cache or GET /api/products")),
    ("--http-pools", dict(type=int, default=10, help="HTTP connection pools shared by the users (by persona hash)")),
    ("--threshold", dict(action="append", default=[], help="CI gate, repeatable: p95<800ms, error_rate<1%%, slip_p99<10%%, missed_sessions=0")),
    ("--db-connections", dict(type=int, default=40, help="total database connections for the whole run (all processes)")),
    ("--db-pooler", dict(default="", choices=["", "transaction", "session", "none"], help="how DATABASE_URL is reached: transaction (PgBouncer/Supavisor transaction mode: no prepared statements), session, none (default: $LOADSIM_DB_POOLER, else port 6543 = transaction)")),
    ("--offer-engine", dict(default="", choices=["", "local", "target"], help="who assigns offers: local (the project's offer_engine on the database) or target (the target's own engine through its /cycles, /refresh/user/{id}, /time/advance); default: from what the target reports — never two engines on one database")),
    ("--map", dict(default="", help="the owner's map file (TOML: [routes], [db.map], [personas.columns]); default: $LOADSIM_MAP")),
    ("--runs-dir", dict(default="runs", help="where run outputs go (runs/<run_id>/)")),
    ("--drain-seconds", dict(type=float, default=30.0, help="at the simulated end, at most this many real seconds for agents to act the slots they still owe and finish paced sessions (a 32-simulated-minute session is 11 s at 168x); the run ends as soon as none is left, after it sessions finish unpaced and the rest is counted missed")),
    ("--experiment", dict(default="", help="an experiment file (TOML: seed, control, stratify, [arms.NAME]): personas randomized into arms of offer strategies, each arm recorded on agents, sessions and events")),
    ("--prometheus-port", dict(type=int, default=0, help="master/standalone: serve the simulation's metrics (names loadsim_*) in Prometheus text format on http://0.0.0.0:PORT/metrics (0: off)")),
    ("--alert-webhook", dict(action="append", default=[], help="POST a JSON alert (Slack-compatible text plus fields) to this URL on a breaker trip, an outage, a pause, a resume, a failed gate and the run's end; repeatable; never in the manifest")),
    ("--llm-url", dict(default="", help="an OpenAI-compatible endpoint (e.g. http://127.0.0.1:8080/v1) that decides the basket of --llm-share of sessions; key from $LOADSIM_LLM_API_KEY or $OPENAI_API_KEY (empty: rules only)")),
    ("--llm-model", dict(default="local", help="the model name sent to --llm-url")),
    ("--llm-format", dict(default="json_schema", choices=["json_schema", "json_object"], help="how the answer's JSON schema is sent: json_schema (OpenAI) or json_object with a schema (llama.cpp's server)")),
    ("--llm-share", dict(type=float, default=0.1, help="share of sessions (seeded by run seed, persona, hour) whose basket the model decides")),
    ("--llm-timeout", dict(type=float, default=10.0, help="seconds per model call; a late answer is the rules' decision (fallback: timeout)")),
    ("--llm-concurrency", dict(type=int, default=4, help="model calls in flight per process")),
    ("--llm-rate", dict(type=float, default=0.0, help="model requests/s per process, separate from --rate-limit (0: off)")),
    ("--llm-budget-tokens", dict(type=int, default=0, help="model tokens for the whole run, held by the master and leased to the processes; when spent, the rules decide (0: unlimited)")),
    ("--llm-price", dict(default="", help="IN,OUT: the model's price in dollars per million prompt and completion tokens (e.g. 0.15,0.60): the report's LLM cost (empty: no cost)")),
    ("--pace", dict(default="on", choices=["on", "off"], help="on: each action of a session waits for its simulated moment; off: a session's requests back to back (throughput runs)")),
]  # fmt: skip


_EXTENDED: weakref.WeakSet[argparse.ArgumentParser] = weakref.WeakSet()
"""The parsers :func:`register_options` has extended."""


def register_options(parser: argparse.ArgumentParser) -> None:
    """Add the harness options to Locust's parser (repeat-safe: a parser is extended once;
    a flag the parser already has is left to its owner — argparse refuses it)."""
    if parser in _EXTENDED:
        return
    _EXTENDED.add(parser)
    group = parser.add_argument_group("VoiceOffers harness")
    for flag, kw in _OPTIONS:
        env = "LOCUST_" + flag[2:].upper().replace("-", "_")
        try:
            group.add_argument(flag, env_var=env, **kw)
        except argparse.ArgumentError:
            continue  # "conflicting option string": the parser has it already


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm]?)\s*$")


def parse_duration_hours(text: str) -> float | None:
    """``7d`` → 168, ``36h`` → 36, ``90m`` → 1.5, bare numbers are hours; empty → None."""
    if not text:
        return None
    m = _DURATION.match(str(text))
    if not m:
        raise ConfigError(
            f"--sim-duration {text!r}: expected a number with d, h or m (e.g. 7d, 36h)"
        )
    value, unit = float(m.group(1)), m.group(2) or "h"
    hours = value * {"d": 24.0, "h": 1.0, "m": 1 / 60}[unit]
    if hours <= 0:
        raise ConfigError(f"--sim-duration {text!r}: must be > 0")
    return hours


def parse_ramp(text: str) -> list[tuple[float, float]]:
    """``'0:10,2:25,…'`` → ``[(0, 0.10), (2, 0.25), …]`` sorted by hour; must start at 0."""
    stages: list[tuple[float, float]] = []
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        try:
            hour_s, pct_s = part.split(":")
            hour, pct = float(hour_s), float(pct_s.rstrip("%"))
        except ValueError:
            raise ConfigError(f"--ramp stage {part!r}: expected 'simhour:percent'") from None
        if not math.isfinite(hour) or hour < 0 or not 0 < pct <= 100:
            raise ConfigError(f"--ramp stage {part!r}: hour >= 0 and 0 < percent <= 100")
        stages.append((hour, pct / 100))
    if not stages:
        raise ConfigError("--ramp: at least one stage 'simhour:percent'")
    stages.sort()
    if stages[0][0] != 0:
        raise ConfigError("--ramp: the first stage must start at hour 0")
    return stages


def parse_sim_start(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--sim-start {text!r}: expected ISO 8601, e.g. {DEFAULT_SIM_START}"
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class HarnessOptions:
    time_scale: float = 168.0
    sim_start: datetime = field(default_factory=lambda: parse_sim_start(DEFAULT_SIM_START))
    sim_duration_hours: float | None = None
    ramp: tuple[tuple[float, float], ...] = tuple(parse_ramp(DEFAULT_RAMP))
    rate_limit: float = 50.0
    breaker_threshold: float = 5.0
    checkpoint_every: int = 10
    resume: str = ""
    run_id: str = ""
    mock_api: bool = False
    mock_db: bool = False
    seed: int = 42
    personas: str = ""
    browse_via: str = "cache"
    http_pools: int = 10
    thresholds: tuple[str, ...] = ()
    db_connections: int = 40
    runs_dir: str = "runs"
    drain_seconds: float = 30.0
    offer_engine: str = ""  # "" = decided from what the target reports
    map_file: str = ""
    db_pooler: str = ""  # "" = $LOADSIM_DB_POOLER, else guessed from the URL
    pace: bool = True
    experiment: str = ""  # an experiment file (offer_engine.experiment); "" = none
    llm_url: str = ""  # "" = rules only (harness.agent.llm)
    llm_model: str = "local"
    llm_format: str = "json_schema"
    llm_share: float = 0.1
    llm_timeout: float = 10.0
    llm_concurrency: int = 4
    llm_rate: float = 0.0
    llm_budget_tokens: int = 0
    llm_price: str = ""  # "IN,OUT" dollars per million tokens (reports.llm_report)

    @classmethod
    def from_parsed(cls, ns: argparse.Namespace | None) -> HarnessOptions:
        """Validate Locust's parsed options; ``ConfigError`` names the bad option."""

        def g(name: str, default: object = None) -> Any:  # Locust's namespace: untyped
            return getattr(ns, name, default)

        scale = float(g("time_scale", 168.0))
        # nan passes every comparison and inf never ends a run: both are refused.
        if not math.isfinite(scale) or scale <= 0:
            raise ConfigError(f"--time-scale {scale}: must be a finite number > 0")
        for name, minimum in (("rate_limit", 0), ("breaker_threshold", 0), ("drain_seconds", 0)):
            value = float(g(name, 0))
            if not math.isfinite(value) or value < minimum:
                raise ConfigError(
                    f"--{name.replace('_', '-')} {value}: must be a finite number >= {minimum}"
                )
        for name in ("http_pools", "db_connections", "checkpoint_every"):
            if int(g(name, 1)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')}: must be >= 1")
        if g("db_pooler", ""):
            from db.settings import parse_pooler

            # Checked here; the runtime's settings carry it to every engine (harness.wiring).
            parse_pooler(g("db_pooler"))
        map_file = str(g("map", "") or "")
        if map_file:
            from pathlib import Path

            if not Path(map_file).is_file():
                raise ConfigError(f"--map {map_file}: no such file")
            # Its readers are handed opts.map_file (routes, personas columns, database map);
            # workers get the master's routes in RunConfig.
        experiment = str(g("experiment", "") or "")
        if experiment:
            from offer_engine.experiment import load_experiment

            load_experiment(experiment)  # a bad file: one line naming file, line, key; exit 2
        llm_url = str(g("llm_url", "") or "")
        if llm_url and not re.match(r"^https?://[^/\s]+", llm_url):
            raise ConfigError(f"--llm-url {llm_url}: must be an http(s):// URL")
        share, llm_timeout = float(g("llm_share", 0.1)), float(g("llm_timeout", 10.0))
        if not math.isfinite(share) or not 0 <= share <= 1:
            raise ConfigError(f"--llm-share {share}: must be between 0 and 1")
        if not math.isfinite(llm_timeout) or llm_timeout <= 0:
            raise ConfigError(f"--llm-timeout {llm_timeout}: must be a finite number > 0")
        for name in ("llm_concurrency",):
            if int(g(name, 1)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')}: must be >= 1")
        for name in ("llm_rate", "llm_budget_tokens"):
            value = float(g(name, 0))
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"--{name.replace('_', '-')} {value}: must be >= 0")
        llm_price = str(g("llm_price", "") or "").strip()
        if llm_price:
            from reports.llm_report import parse_price

            parse_price(llm_price)  # a bad price: one line naming --llm-price
        thresholds = tuple(g("threshold", []) or [])
        if thresholds:
            from reports.thresholds import parse_threshold

            for expr in thresholds:
                parse_threshold(expr)
        return cls(
            time_scale=scale,
            sim_start=parse_sim_start(g("sim_start", DEFAULT_SIM_START)),
            sim_duration_hours=parse_duration_hours(g("sim_duration", "") or ""),
            ramp=tuple(parse_ramp(g("ramp", DEFAULT_RAMP) or DEFAULT_RAMP)),
            rate_limit=float(g("rate_limit", 50.0)),
            breaker_threshold=float(g("breaker_threshold", 5.0)),
            checkpoint_every=int(g("checkpoint_every", 10)),
            resume=str(g("resume", "") or ""),
            run_id=str(g("run_id", "") or ""),
            mock_api=bool(g("mock_api", False)),
            mock_db=bool(g("mock_db", False)),
            seed=int(g("seed", 42)),
            personas=str(g("personas", "") or ""),
            browse_via=str(g("browse_via", "cache")),
            http_pools=int(g("http_pools", 10)),
            thresholds=thresholds,
            db_connections=int(g("db_connections", 40)),
            runs_dir=str(g("runs_dir", "runs")),
            drain_seconds=float(g("drain_seconds", 30.0)),
            pace=str(g("pace", "on") or "on") != "off",
            offer_engine=str(g("offer_engine", "") or ""),
            map_file=map_file,
            db_pooler=str(g("db_pooler", "") or ""),
            experiment=experiment,
            llm_url=llm_url,
            llm_model=str(g("llm_model", "local") or "local"),
            llm_format=str(g("llm_format", "json_schema") or "json_schema"),
            llm_share=share,
            llm_timeout=llm_timeout,
            llm_concurrency=int(g("llm_concurrency", 4)),
            llm_rate=float(g("llm_rate", 0.0)),
            llm_budget_tokens=int(g("llm_budget_tokens", 0)),
            llm_price=llm_price,
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["sim_start"] = self.sim_start.isoformat()
        d["ramp"] = [list(s) for s in self.ramp]
        d["thresholds"] = list(self.thresholds)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HarnessOptions:
        """The inverse of :meth:`to_json` (the master's options as a worker receives them
        in the run config); unknown keys are ignored, missing ones keep their defaults."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if "sim_start" in kw:
            kw["sim_start"] = parse_sim_start(kw["sim_start"])
        if "ramp" in kw:
            kw["ramp"] = tuple((float(h), float(f)) for h, f in kw["ramp"])
        if "thresholds" in kw:
            kw["thresholds"] = tuple(kw["thresholds"])
        return cls(**kw)

    def run_settings(self, settings: SimSettings) -> SimSettings:
        """The environment's settings with what these options override: ``--db-pooler``
        (over ``$LOADSIM_DB_POOLER``). The runtime carries the result to every engine."""
        if not self.db_pooler:
            return settings
        from db.settings import parse_pooler

        return settings.model_copy(update={"db_pooler": parse_pooler(self.db_pooler)})

    def differences(self, other: HarnessOptions) -> list[str]:
        """Options where ``other`` (the master's) differs from this process's own, as
        ``--flag VALUE (own: VALUE)`` — what a worker names when it obeys the master."""
        mine, theirs = self.to_json(), other.to_json()
        for d in (mine, theirs):  # as the flag takes it: percent
            d["ramp"] = [[h, round(f * 100, 6)] for h, f in d["ramp"]]
        out = []
        for name in mine:
            if mine[name] != theirs.get(name):
                if name == "sim_duration_hours":  # as the flag takes it
                    mine[name], theirs[name] = (
                        f"{v:g}h" if v else v for v in (mine[name], theirs[name])
                    )
                out.append(f"{_FLAG.get(name, '--' + name.replace('_', '-'))} "
                           f"{_shown(theirs.get(name))} (own: {_shown(mine[name])})")  # fmt: skip
        return out


_FLAG = {"sim_duration_hours": "--sim-duration", "thresholds": "--threshold", "map_file": "--map"}


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ",".join(":".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
                        if isinstance(v, list) else str(v) for v in value) or "''"  # fmt: skip
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value not in ("", None) else "''"


def ramp_fraction(ramp: tuple[tuple[float, float], ...], sim_hours: float) -> float:
    """The active fraction at ``sim_hours`` since the start (the last stage reached)."""
    frac = ramp[0][1]
    for start, f in ramp:
        if sim_hours >= start:
            frac = f
    return frac
