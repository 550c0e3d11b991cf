"""The control plane: what the master and the workers say to each other.

One owner for the protocol, so ``control`` (the master's side) and ``agent`` (a worker's
side) speak it without importing each other. Messages ride on Locust's own channel
(``runner.send_message`` / ``runner.register_message``, msgpack over ZMQ): payloads are
plain dicts, lists, strings and numbers (tuples arrive as lists, sets cannot travel).
Each message below is a dataclass with ``NAME``, ``to_msg()`` and ``from_msg()``; the
``MSG_*`` constants are their names.

**Nothing secret travels.** Locust's port is unauthenticated and binds every interface
unless ``--master-bind-host`` says otherwise: anything sent here reaches any peer that
connects as a worker. The run config carries the database's :class:`DbFingerprint` (host,
port, database, user — never a password); only the embedded default's URL (loopback unix
socket, no password) is handed to workers, and :meth:`RunConfig.to_msg` drops any URL that
carries a password whatever the caller put in.

The protocol, in the order a run uses it (documented as Locust documents its ``Events``):

1. Locust's own handshake (``client_ready`` → ``ack``), then its ``spawn`` message: the
   worker fires ``test_start`` and sends :class:`Hello`.
2. The master answers :class:`RunConfig` (``MSG_CONFIG``) to that worker, and broadcasts
   it again whenever it changes: a worker joins or leaves (rate and connection shares are
   re-divided), pause/resume (clock), a new offer cycle (catalog version). A worker adopts
   the master's harness options (warning once about its own that differ), checks the
   database fingerprint — or sends :class:`Refused` and quits (exit 2) — then builds its
   engine and HTTP pools and lets its users act.
3. A worker's users that start within 0.1 s ask together in one :class:`LeaseRequest`
   (``req_ids``; k sized from the spawn rate, ``harness.agent.lease_client``); the master
   answers each holder with one :class:`Grant` carrying its ``grants`` when personas are
   free (requests queue until then). A user that stops sends :class:`Release` (the
   persona, or its pending request). When a missing worker comes back after its personas
   were reclaimed, the master sends it :class:`Revoke`.
4. A contract error on a worker (401/403/404/405/422) is sent at once as
   :class:`ContractError`: the master trips the breaker.
5. Every 3 s Locust's ``report_to_master`` carries :class:`WorkerReport` under
   :data:`REPORT_KEY` (hour counters, throttling, unavailability): the run guard pauses
   the whole run on any process's outage; the database stays the source of truth for
   the breaker's counts.
6. The end is Locust's: ``quit`` from the master; a worker that loses its master exits on
   its own (see ``harness.wiring.lifecycle``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

MSG_HELLO = "loadsim_hello"
MSG_CONFIG = "loadsim_config"
MSG_LEASE = "loadsim_lease"
MSG_GRANT = "loadsim_grant"
MSG_RELEASE = "loadsim_release"
MSG_REVOKE = "loadsim_revoke"
MSG_CONTRACT = "loadsim_contract"
MSG_REFUSED = "loadsim_refused"
REPORT_KEY = "loadsim"
"""Key of the harness's part of Locust's worker report (not one of Locust's reserved keys:
``stats``, ``stats_total``, ``errors``, ``user_classes_count``, ``user_count``)."""


class _Message:
    """Base of the typed messages: a dataclass whose fields are its payload."""

    NAME: ClassVar[str]

    def to_msg(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_msg(cls, data: dict[str, Any] | None) -> Any:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in (data or {}).items() if k in names})


@dataclass
class Hello(_Message):
    """Worker → master, at the worker's ``test_start`` (after Locust's first ``spawn``):
    send me the run config. No payload."""

    NAME: ClassVar[str] = MSG_HELLO


@dataclass
class LeaseRequest(_Message):
    """Worker → master, when users start: lease a persona for each request. The users of
    a process that start within a short window ask in one message (``req_ids``; k sized
    from the spawn rate — ``harness.agent.lease_client``); a single ``req_id`` is also
    understood. Each id is unique in the run (``<client id>:<counter>``); the answers come
    in :class:`Grant` as personas are free (queued until then)."""

    NAME: ClassVar[str] = MSG_LEASE
    req_ids: list[str] = field(default_factory=list)
    req_id: str | None = None

    def ids(self) -> list[str]:
        return list(self.req_ids) or ([self.req_id] if self.req_id else [])

    def to_msg(self) -> dict[str, Any]:
        return {"req_ids": self.ids()}


@dataclass
class Grant(_Message):
    """Master → one worker: personas for its requests, one message per holder —
    ``grants`` is a list of ``{"req_id", "entry"}``, ``entry`` holding ``agent_id``,
    ``user_id`` and ``persona`` (the persona's fields). A single ``req_id``/``entry`` is
    also understood. A worker whose user is gone sends a :class:`Release` of the persona
    back at once."""

    NAME: ClassVar[str] = MSG_GRANT
    grants: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_msg(cls, data: dict[str, Any] | None) -> Grant:
        data = data or {}
        if "grants" in data:
            return cls(grants=list(data["grants"]))
        return cls(grants=[{"req_id": data["req_id"], "entry": data["entry"]}] if data else [])


@dataclass
class Release(_Message):
    """Worker → master, when a user stops: give back ``agent_id``, or cancel the pending
    request ``req_id`` (exactly one of them is set)."""

    NAME: ClassVar[str] = MSG_RELEASE
    agent_id: int | None = None
    req_id: str | None = None

    def to_msg(self) -> dict[str, Any]:
        return {k: v for k, v in super().to_msg().items() if v is not None}


@dataclass
class Revoke(_Message):
    """Master → one worker that came back after being missing: these personas were
    reclaimed and leased again; your users must let them go."""

    NAME: ClassVar[str] = MSG_REVOKE
    agent_ids: list[int]


@dataclass
class ContractError(_Message):
    """Worker → master, at a worker's first contract error (issue 14): the master trips
    the breaker at once, naming the method, path and status."""

    NAME: ClassVar[str] = MSG_CONTRACT
    method: str = ""
    path: str = ""
    status: int = 0
    detail: str = ""
    cause: str = ""


@dataclass
class Refused(_Message):
    """Worker → master, when the worker will not act in this run (its database differs
    from the master's, or it has none): the master logs ``reason``; the worker quits."""

    NAME: ClassVar[str] = MSG_REFUSED
    reason: str


@dataclass
class WorkerReport(_Message):
    """Worker → master every 3 s, inside Locust's report under :data:`REPORT_KEY`:
    ``hours`` (per-simulated-hour counters drained since the last report, slips as an
    encoded HDR histogram), ``throttled`` (429 answers so far) and ``unavailable`` (its
    current run of consecutive unavailable answers: the master's run guard pauses the
    whole run on the worst process's)."""

    NAME: ClassVar[str] = REPORT_KEY
    hours: dict[str, Any] = field(default_factory=dict)
    throttled: int = 0
    unavailable: int = 0


MESSAGES: tuple[type, ...] = (
    Hello, LeaseRequest, Grant, Release, Revoke, ContractError, Refused, WorkerReport,
)  # fmt: skip
"""Every typed message of the control plane but :class:`RunConfig` (defined below)."""


@dataclass(frozen=True)
class DbFingerprint:
    """Which database a process uses, without the password: enough for a worker to check
    that its own ``DATABASE_URL`` is the master's, and for the manifest to say what the
    database really was."""

    host: str
    port: int
    database: str
    user: str
    embedded: bool = False

    @classmethod
    def from_url(cls, url: Any, *, embedded: bool = False) -> DbFingerprint:
        """From a database URL (a unix socket directory in ``?host=`` counts as the host).

        Raises:
            DatabaseUnavailable: the URL does not parse (one line, password redacted).
        """
        from db.engine import normalize_url

        u = normalize_url(url)
        host = u.host or str(u.query.get("host") or "") or "localhost"
        return cls(
            host=host.lower(), port=int(u.port or 5432), database=u.database or "",
            user=u.username or "", embedded=embedded,
        )  # fmt: skip

    def same_database(self, other: DbFingerprint) -> bool:
        return (self.host, self.port, self.database, self.user) == (
            other.host, other.port, other.database, other.user,
        )  # fmt: skip

    def describe(self) -> str:
        """``user@host:port/database`` (``embedded …`` for the embedded default)."""
        text = f"{self.user}@{self.host}:{self.port}/{self.database}"
        return f"embedded Postgres ({text})" if self.embedded else text

    def to_msg(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_msg(cls, d: dict[str, Any] | None) -> DbFingerprint | None:
        return cls(**d) if d else None


@dataclass
class RunConfig:
    """Master → workers (``MSG_CONFIG``): what a process needs to act in a run. Sent in
    answer to a :class:`Hello` and broadcast whenever it changes (see the module
    docstring); msgpack-safe via ``to_msg``/``from_msg``."""

    NAME: ClassVar[str] = MSG_CONFIG
    run_id: str
    seed: int
    sim_start: str  # ISO
    sim_end: str | None  # ISO; None = open-ended
    clock: dict[str, Any]
    api_url: str | None
    database_url: str | None  # only the embedded default's (loopback, no credentials)
    rate_share: float  # requests/s of each worker (the master keeps its control share)
    mock_api: bool
    mock_db: bool
    replay_until_hour: int = -1  # hours below this are replays (resume)
    catalog_version: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # processes, routes
    harness: dict[str, Any] = field(default_factory=dict)
    """The master's ``HarnessOptions.to_json()``: every harness option a worker obeys."""
    db: dict[str, Any] | None = None
    """The run database's :class:`DbFingerprint` (``None`` with ``--mock-db``)."""
    db_share: int = 0
    """Database connections each worker may hold (the run's ``--db-connections`` divided
    by the processes connected, master included); 0 = not divided yet."""

    def to_msg(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if d.get("database_url") and has_password(d["database_url"]):
            d["database_url"] = None  # never on the wire: workers use their own DATABASE_URL
        return d

    @classmethod
    def from_msg(cls, d: dict[str, Any]) -> RunConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def fingerprint(self) -> DbFingerprint | None:
        return DbFingerprint.from_msg(self.db)


def has_password(url: Any) -> bool:
    """Whether a database URL carries a password (in the user part or the query)."""
    from sqlalchemy import make_url

    try:
        u = make_url(str(url).replace("postgres://", "postgresql://", 1))
    except Exception:  # noqa: BLE001 - unparsable: treat as secret
        return True
    return bool(u.password) or "password" in {k.lower() for k in u.query}
