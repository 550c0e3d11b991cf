"""Where master control talks to the target API itself (not as an agent), always through
the route map (``harness.config.routes``):

- the **start-up probe**: before any agent acts, ``/health`` answers,
  ``simulation_mode`` is true, and one authenticated read as the first agent succeeds —
  else one line naming the path, the status and the likely cause (``ConfigError``, exit 2);
- which **offer engine** runs (``--offer-engine local|target``): never two on one database;
- the ``/health`` probe that detects an outage during the run;
- ``POST /time/advance`` each simulated hour, and with ``--offer-engine target`` the
  target's own cycles (``POST /cycles``) and wallet refreshes (``POST /refresh/user/{id}``).

An agent's own requests go through :class:`harness.agent.http_shop.HttpShop` instead.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from db.errors import ConfigError
from harness.config.routes import RouteMap, contract_cause, is_contract_error

if TYPE_CHECKING:
    from locust.contrib.fasthttp import FastHttpSession
    from locust.env import Environment

    from harness.agent.rate_limit import TokenBucket

log = logging.getLogger("loadsim")

REFERENCE_ENGINE = "reference"
"""What the reference API's ``/health`` says in ``offer_engine``: it runs this project's
``offer_engine`` (the harness's own ``local`` engine is the same code on the same tables)."""


# ------------------------------------------------------------------ plain requests

PREFLIGHT_AGENT = "loadsim-preflight"
"""The ``User-Agent`` of the requests sent before the load starts (the start-up probe,
choosing the offer engine). Locust clears its statistics when the test starts, so these
are the only requests to the target that Locust's table does not hold; every request
during the run goes through Locust's HTTP client."""


def _request(
    method: str, url: str, *, headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None, timeout: float = 10.0,
) -> tuple[int, str]:  # fmt: skip
    """(status, body text); status 0 and the reason when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    # Outside Locust's stats (these are the pre-flight checks before the load starts):
    # a user agent of their own tells them apart in the target's access log.
    headers = {"User-Agent": PREFLIGHT_AGENT, **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - http(s) only
            return r.status, r.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536).decode("utf-8", "replace") if exc.fp else ""
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(getattr(exc, "reason", exc))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def probe_health(
    api_url: str, timeout: float = 3.0, path: str = "/health", *, bucket: TokenBucket | None = None
) -> tuple[bool, str]:
    """``GET /health``: (healthy, detail). Unreachable, a timeout or a 5xx is unhealthy.
    During a run ``bucket`` is the master's token bucket: the probe counts against the
    run's rate limit, ahead of any queue (``priority``)."""
    if bucket is not None:
        bucket.acquire(priority=True)
    status, text = _request("GET", api_url.rstrip("/") + path, timeout=timeout)
    if status == 0:
        return False, f"unreachable: {text}"
    return status < 500, f"HTTP {status}"


# ------------------------------------------------------------------ start-up probe


def _shown(api_url: str) -> str:
    from db.engine import redact

    return redact(api_url.rstrip("/"))


def probe_contract(
    api_url: str, routes: RouteMap, *, agent_id: int, sim_time: datetime, timeout: float = 10.0
) -> dict[str, Any]:
    """Check the contract before any agent acts; returns ``/health``'s JSON.

    Raises:
        ConfigError: one line — ``target URL METHOD PATH → STATUS: likely cause``.
    """
    base, shown = api_url.rstrip("/"), _shown(api_url)
    hp = routes.path("health")
    status, text = _request("GET", base + hp, timeout=timeout)
    where = f"target {shown} GET {hp}"
    if status == 0:
        raise ConfigError(f"{where} → no answer ({text}): is the API running at --host?")
    if status != 200:
        cause = _cause(status, "GET")
        raise ConfigError(f"{where} → {status}: {cause}")
    health = _json(text)
    if not isinstance(health, dict):
        raise ConfigError(
            f"{where} → 200 but not a JSON object: is --host the API, and [routes] health "
            "its health route?"
        )
    if health.get("simulation_mode") is not True:
        raise ConfigError(
            f"{where} → 200 with simulation_mode={json.dumps(health.get('simulation_mode'))}: "
            "the API is not running with SIMULATION_MODE=true"
        )
    wp = routes.path("wallet")
    headers = {"Authorization": f"Bearer dev:{agent_id}", "X-Simulated-Time": sim_time.isoformat()}
    status, text = _request("GET", base + wp, headers=headers, timeout=timeout)
    where = f"target {shown} GET {wp} as agent {agent_id}"
    if status == 0:
        raise ConfigError(f"{where} → no answer ({text}): the API stopped answering")
    if status == 401:  # simulation mode is on: the token's agent is the problem
        raise ConfigError(
            f"{where} → 401: the API refused agent {agent_id}'s dev token: is it an active "
            "simulated agent of the API's database?"
        )
    if not 200 <= status < 300:
        raise ConfigError(f"{where} → {status}: {_cause(status, 'GET')}")
    if not isinstance(_json(text), dict):
        raise ConfigError(f"{where} → {status} but not a JSON object: check [routes] wallet")
    return health


def _cause(status: int, method: str) -> str:
    if status >= 500:
        return "the API failed (5xx): see its log"
    if status == 429:
        return "the API is shedding load (429) before the run started"
    if status == 401:
        return "the API is not running with SIMULATION_MODE=true (dev tokens refused)"
    return contract_cause(status, method)


# ------------------------------------------------------------------ which offer engine


@dataclass(frozen=True)
class OfferPlan:
    """Which engine assigns offers in this run, and why (logged and in the manifest)."""

    engine: str  # "local" | "target" | "none"
    why: str


def resolve_offer_engine(
    wanted: str, *, health: dict[str, Any] | None, has_target: bool, adopted: bool,
    cycles_status: int | None, routes: RouteMap, target: str = "the target",
) -> OfferPlan:  # fmt: skip
    """Never two engines on one database (docs/ARCHITECTURE.md, owner's map).

    ``wanted``: ``local`` | ``target`` | ``""`` (decide). What the target reports decides
    the default: ``/health``'s ``offer_engine`` (``"reference"``: the reference API, which
    runs this project's engine; another value: its own; ``false``/``"none"``: none), else
    whether its ``/cycles`` route answers (``cycles_status``). An adopted database belongs
    to the app's own engine.

    Raises:
        ConfigError: the choice would run two engines, or none could run.
    """
    if wanted not in ("", "local", "target"):
        raise ConfigError(f"--offer-engine {wanted!r}: expected local or target")
    reported = (health or {}).get("offer_engine")
    own = reported not in (None, False, "none", "", REFERENCE_ENGINE)
    if wanted == "target" or (wanted == "" and has_target and own):
        if not has_target:
            raise ConfigError("--offer-engine target: there is no target API (--mock-api)")
        if not routes.has("cycles"):
            raise ConfigError(
                f"--offer-engine target: [routes] cycles is empty in {routes.source} — "
                "the target's cycles cannot be triggered"
            )
        if reported in (False, "none"):
            raise ConfigError(
                f"--offer-engine target: {target} reports no offer engine "
                f"(GET {routes.path('health')}: offer_engine={json.dumps(reported)})"
            )
        return OfferPlan("target", "the target's own engine, driven through its routes")
    if adopted:
        if wanted == "local":
            raise ConfigError(
                "--offer-engine local: this database was adopted — the app's own offer engine "
                "assigns its offers; use --offer-engine target (never two engines on one database)"
            )
        if not has_target:
            return OfferPlan("none", "adopted database and no target: no engine runs")
        if cycles_status is not None and 200 <= cycles_status < 300:
            return OfferPlan("target", "adopted database: the app's own engine (its /cycles)")
        raise ConfigError(
            f"adopted database, but {target} GET {routes.path('cycles')} → {cycles_status}: "
            "the app's offer engine cannot be driven; fix [routes] cycles"
        )
    if own:  # wanted == "local"
        raise ConfigError(
            f"--offer-engine local: {target} reports its own offer engine (GET "
            f"{routes.path('health')}: offer_engine={json.dumps(reported)}) — a second engine "
            "on the same database would double-assign wallets; use --offer-engine target"
        )
    if wanted == "local" or not has_target or reported is not None:
        return OfferPlan("local", "the project's offer_engine on the database")
    # The target says nothing: its routes tell. /cycles answering = an engine of its own.
    if cycles_status is None or cycles_status in (404, 405) or not routes.has("cycles"):
        return OfferPlan("local", f"{target} has no /cycles: the project's offer_engine")
    if 200 <= cycles_status < 300:
        return OfferPlan("target", f"{target} serves GET {routes.path('cycles')}: its own engine")
    raise ConfigError(
        f"cannot tell whether {target} runs its own offer engine (GET {routes.path('cycles')} "
        f"→ {cycles_status}): pass --offer-engine local or --offer-engine target"
    )


def probe_cycles(api_url: str, routes: RouteMap, timeout: float = 10.0) -> int | None:
    """``GET /cycles``'s status (None when the map has no such route)."""
    if not routes.has("cycles"):
        return None
    return _request("GET", api_url.rstrip("/") + routes.path("cycles"), timeout=timeout)[0]


@dataclass(frozen=True)
class TargetPlan:
    """What the start-up check decided: the route map, the offer engine, /health's JSON."""

    routes: RouteMap
    offer: OfferPlan
    health: dict[str, Any] | None = None


def preflight(
    *, api_url: str | None, mock_api: bool, routes: RouteMap, first_agent: int | None,
    sim_time: datetime, wanted_engine: str, adopted: bool,
) -> TargetPlan:  # fmt: skip
    """Before any agent acts: probe the contract, choose the offer engine.

    Raises:
        ConfigError: one line naming the path, status and likely cause (exit 2).
    """
    has_target = bool(api_url) and not mock_api
    health = None
    cycles_status = None
    if has_target:
        assert api_url is not None
        if first_agent is None:
            raise ConfigError("no persona to probe the target with: seed personas first")
        health = probe_contract(api_url, routes, agent_id=first_agent, sim_time=sim_time)
        if "offer_engine" not in health or adopted:
            cycles_status = probe_cycles(api_url, routes)
    offer = resolve_offer_engine(
        wanted_engine, health=health, has_target=has_target, adopted=adopted,
        cycles_status=cycles_status, routes=routes,
        target=f"target {_shown(api_url)}" if api_url else "the target",
    )  # fmt: skip
    return TargetPlan(routes=routes, offer=offer, health=health)


# ------------------------------------------------------------------ during the run


@dataclass
class TargetControl:
    """The director's calls to the target during the run, in Locust's stats under the
    contract's names. A contract status comes back as a dict for the breaker."""

    environment: Environment
    api_url: str
    routes: RouteMap
    _client: FastHttpSession | None = field(default=None, repr=False)
    _health_client: FastHttpSession | None = field(default=None, repr=False)
    cycles_triggered: list[dict[str, Any]] = field(default_factory=list)

    def _session(self) -> FastHttpSession:
        if self._client is None:
            from locust.contrib.fasthttp import FastHttpSession

            self._client = FastHttpSession(
                base_url=self.api_url, request_event=self.environment.events.request,
                user=None, network_timeout=30.0, connection_timeout=10.0,
            )  # fmt: skip
        return self._client

    def health(
        self, path: str, *, bucket: TokenBucket | None = None, timeout: float = 3.0
    ) -> tuple[bool, str]:
        """``GET`` the health route during the run, through Locust's HTTP client (so it is
        in Locust's statistics, as every request sent to the target during the run is):
        (healthy, detail) as :func:`probe_health` — unreachable, a timeout or a 5xx is
        unhealthy. ``bucket``: the run's token bucket (probes go ahead of any queue)."""
        if bucket is not None:
            bucket.acquire(priority=True)
        if self._health_client is None:
            from locust.contrib.fasthttp import FastHttpSession

            self._health_client = FastHttpSession(
                base_url=self.api_url, request_event=self.environment.events.request,
                user=None, network_timeout=timeout, connection_timeout=timeout,
            )  # fmt: skip
        with self._health_client.get(path, name=path, catch_response=True) as resp:
            status = int(resp.status_code or 0)
            if status == 0 or status >= 500:
                why = getattr(resp, "error", None) or f"HTTP {status}"
                resp.failure(f"{status or 'no answer'}: {why}")
            else:
                resp.success()
        if status == 0:
            return False, f"unreachable: {getattr(resp, 'error', None)}"
        return status < 500, f"HTTP {status}"

    def _post(
        self, key: str, name: str, sim_t: datetime, body: dict[str, Any] | None = None,
        ident: int | None = None, arm: str | None = None,
    ) -> tuple[int, Any, dict[str, Any] | None]:  # fmt: skip
        """(status, JSON body or None, contract-error info or None)."""
        path = self.routes.path(key, ident)
        from harness.agent.runtime import runtime_of

        rt = runtime_of(self.environment)
        if rt is not None:  # the run's rate limit counts control traffic too
            rt.bucket.acquire(priority=key == "time_advance")
        headers = {"Content-Type": "application/json", "X-Simulated-Time": sim_t.isoformat()}
        if arm is not None:  # --experiment: the user's arm, as on its agent's requests
            headers["X-Experiment-Arm"] = arm
        data = json.dumps(body) if body is not None else None
        with self._session().post(
            path, data=data, name=name, catch_response=True, headers=headers
        ) as resp:
            status = resp.status_code or 0
            payload = None
            try:
                payload = resp.json() if resp.content else None
            except ValueError:
                payload = None
            detail = payload.get("detail") if isinstance(payload, dict) else None
            if 200 <= status < 300 or status in (409, 429):
                resp.success()  # 409: already done (idempotent); 429: retried next hour
                return status, payload, None
            if is_contract_error(status, detail):
                cause = contract_cause(status, "POST")
                resp.failure(f"{status} contract error: {detail} — {cause}")
                info = {"method": "POST", "path": path, "status": status,
                        "detail": str(detail)[:200], "cause": cause}  # fmt: skip
                return status, payload, info
            resp.failure(f"{status or 'no answer'}: {detail}")
            return status, payload, None

    def _current_cycle(self, sim_t: datetime) -> dict[str, Any] | None:
        """The target's cycle whose window holds ``sim_t`` (``GET /cycles``), if it lists
        its cycles in the contract's shape; None otherwise (then one is created)."""
        headers = {"X-Simulated-Time": sim_t.isoformat()}
        with self._session().get(
            self.routes.path("cycles"), name="/cycles", catch_response=True, headers=headers
        ) as resp:
            resp.success()  # informative only: any answer lets the POST decide
            try:
                items = (resp.json() or {}).get("items") if resp.content else None
            except (ValueError, AttributeError):
                items = None
        for c in items if isinstance(items, list) else []:
            try:
                start = datetime.fromisoformat(str(c["simulated_start_date"]))
                end = datetime.fromisoformat(str(c["simulated_end_date"]))
                if start <= sim_t < end:  # naive vs aware: TypeError, not ours
                    return dict(c)
            except (KeyError, TypeError, ValueError):
                continue
        return None

    def advance_time(self, sim_t: datetime) -> dict[str, Any] | None:
        """``POST /time/advance``; a contract error's info, else None."""
        if not self.routes.has("time_advance"):
            return None
        body = {"simulated_time": sim_t.isoformat()}
        return self._post("time_advance", "/time/advance", sim_t, body)[2]

    def run_cycle(
        self, *, cycle_number: int, sim_t: datetime, user_ids: list[int],
        arms: dict[int | str, str] | None = None,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:  # fmt: skip
        """The target's own cycle at a boundary: ``POST /cycles``, then each user's
        ``POST /refresh/user/{id}`` when the map has that route (an empty
        ``refresh_user`` means the target's ``/cycles`` fills the wallets itself).
        ``arms`` (``--experiment``): each user's arm, sent as ``X-Experiment-Arm`` with its
        refresh. Returns (what was done, a contract error's info or None)."""
        cycle = self._current_cycle(sim_t)  # a resumed run must not make the cycle twice
        if cycle is None:
            status, cycle, info = self._post("cycles", "/cycles", sim_t)
            if info is not None or not 200 <= status < 300:
                return None, info
        done = {"cycle_number": cycle_number, "target_cycle": cycle, "sim_time": sim_t.isoformat()}
        if self.routes.has("refresh_user"):
            counts: dict[str, int] = {}
            for uid in user_ids:
                st, _, info = self._post(
                    "refresh_user", "/refresh/user/{id}", sim_t, ident=int(uid),
                    arm=(arms or {}).get(uid),
                )  # fmt: skip
                if info is not None:
                    return done, info
                counts[str(st)] = counts.get(str(st), 0) + 1
            done["refreshed"] = counts
        self.cycles_triggered.append(done)
        return done, None
