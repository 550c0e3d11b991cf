"""The control plane: what the master and the workers say to each other, and when.

One owner for the protocol, so ``control`` (the master's side) and ``agent`` (a worker's
side) speak it without importing each other. Each message is a dataclass with its ``NAME``
(the ``MSG_*`` constants), ``to_msg()`` (the payload: plain maps, lists, strings and
numbers — Locust sends it as msgpack over ZMQ) and ``from_msg()`` (a payload from the wire
checked against the fields: the typed message, or :class:`MessageError` naming the message,
the field and what was wrong). The harness sends with :func:`send` and receives with
:func:`listen` (``harness.config.wire``) — never ``runner.send_message(name, {...})`` — and
a malformed message is logged in one line and ignored (``tests/test_messages.py`` checks
both, and that no ``send_message(`` in ``harness/`` is handed a dict literal).

**Nothing secret travels.** Locust's port is unauthenticated and binds every interface
unless ``--master-bind-host`` says otherwise: anything sent here reaches any peer that
connects as a worker. The run config carries the database's :class:`DbFingerprint` (host,
port, database, user — never a password); only the embedded default's URL (loopback unix
socket, no password) is handed to workers, and :meth:`RunConfig.to_msg` drops any URL that
carries a password whatever the caller put in.

The protocol, in the order a run uses it. Like Locust's ``Events``, each message's own
docstring says who sends it, when, what the receiver does, and its fields (``:param:``).
First Locust's own handshake (``client_ready`` → ``ack``) and ``spawn``; at the worker's
``test_start``:

======================  ================  ==================================================
message                 direction         when
======================  ================  ==================================================
:class:`Hello`          worker → master   at the worker's ``test_start``
:class:`RunConfig`      master → worker   answer to ``Hello``; broadcast on every change
:class:`Refused`        worker → master   its database is not the run's: it then quits
:class:`LeaseRequest`   worker → master   users started (batched per 0.1 s)
:class:`Grant`          master → worker   personas free for those requests
:class:`Release`        worker → master   a user stopped (persona, or pending request)
:class:`Revoke`         master → worker   a missing worker came back after its reclaim
:class:`ContractError`  worker → master   a 401/403/404/405/422 from the target
:class:`LlmTokensAsk`   worker → master   its model-token lease runs low (``--llm-budget-tokens``)
:class:`LlmTokensGrant` master → worker   answer: tokens from the run's budget (0: spent)
:class:`WorkerReport`   worker → master   every 3 s inside Locust's ``report_to_master``
======================  ================  ==================================================

The end is Locust's (``stop``/``quit`` from the master); a worker that loses its master
exits on its own (``harness.wiring.lifecycle``). A standalone run (one process) uses the same messages: Locust's ``LocalRunner`` hands each
one straight to this process's own listener.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from harness.config.wire import (
    MALFORMED,
    Message,
    MessageError,
    Part,
    listen,
    listener,
    parse,
    send,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "MALFORMED", "MESSAGES", "ContractError", "DbFingerprint", "Grant", "GrantItem",
    "Hello", "LeaseEntry", "LeaseRequest", "Message", "MessageError", "Refused", "Release",
    "LlmTokensAsk", "LlmTokensGrant", "Revoke", "RunConfig", "WorkerReport", "has_password",
    "listen", "listener", "parse",
    "send",
]  # fmt: skip

MSG_HELLO = "loadsim_hello"
MSG_CONFIG = "loadsim_config"
MSG_LEASE = "loadsim_lease"
MSG_GRANT = "loadsim_grant"
MSG_RELEASE = "loadsim_release"
MSG_REVOKE = "loadsim_revoke"
MSG_CONTRACT = "loadsim_contract"
MSG_REFUSED = "loadsim_refused"
MSG_LLM_ASK = "loadsim_llm_ask"
MSG_LLM_GRANT = "loadsim_llm_grant"
REPORT_KEY = "loadsim"
"""Key of the harness's part of Locust's worker report (not one of Locust's reserved keys:
``stats``, ``stats_total``, ``errors``, ``user_classes_count``, ``user_count``)."""


@dataclass
class Hello(Message):
    """Sent by a worker to the master once its listeners are in (the end of its ``init``)
    and again at its ``test_start`` (after Locust's first ``spawn``): "send me the run
    config". The master answers this worker alone with the current :class:`RunConfig` (a
    worker that says hello before the run is allocated gets it from the run's first
    broadcast instead; a second answer is harmless). No fields."""

    NAME: ClassVar[str] = MSG_HELLO


@dataclass
class LeaseRequest(Message):
    """Sent by a worker (standalone: by the process to itself) when users start and need a
    persona. The users of a process that start within 0.1 s ask in one message (k sized
    from the spawn rate, ``harness.agent.lease_client``). The master queues each request
    and answers with :class:`Grant` as personas of the active set are free.

    :param req_ids: one id per waiting user, unique in the run (``<client>:<counter>``).
    :param req_id: the single-request form (older senders, test helpers); folded into
        ``req_ids`` on arrival.
    """

    NAME: ClassVar[str] = MSG_LEASE
    req_ids: list[str] = field(default_factory=list)
    req_id: str | None = None

    def __post_init__(self) -> None:
        if self.req_id is not None and not self.req_ids:
            self.req_ids = [self.req_id]
        self.req_id = None

    def ids(self) -> list[str]:
        return list(self.req_ids)

    def check(self) -> str | None:
        return None if self.req_ids else "no req_ids"

    def to_msg(self) -> dict[str, Any]:
        return {"req_ids": list(self.req_ids)}


@dataclass
class LeaseEntry(Part):
    """One leased persona, as a :class:`Grant` carries it.

    :param agent_id: the simulated agent (``agents.id``).
    :param user_id: its app user (``users.id``): an integer in the harness's own schema, a
        string where the owner's app keys users by uuid (an adopted database).
    :param persona: the persona's fields (``personas.model.Persona``).
    :param arm: its experiment arm (``--experiment``; ``None`` in a run without one).
    """

    agent_id: int
    user_id: int | str
    persona: dict[str, Any]
    arm: str | None = None

    def check(self) -> str | None:
        if not isinstance(self.persona.get("persona_id"), str):
            return "persona without a persona_id"
        return None


@dataclass
class GrantItem(Part):
    """One answered request of a :class:`Grant`.

    :param req_id: the request of :class:`LeaseRequest` it answers.
    :param entry: the persona leased to it.
    """

    req_id: str
    entry: LeaseEntry


@dataclass
class Grant(Message):
    """Sent by the master to one worker (the holder of the requests) as soon as personas
    are free for its queued :class:`LeaseRequest` ids — one message per holder per round.
    The worker hands each entry to the user waiting on that request; an entry whose user
    has meanwhile stopped is given back at once with a :class:`Release`.

    :param grants: the answered requests (the single form ``{req_id, entry}`` is also
        understood on arrival).
    :param at: when the master granted them (epoch seconds): a user's schedule starts
        at that instant, the one the master's lease book counts the lease from, not at the
        grant's arrival a few milliseconds (simulated minutes) later.
    """

    NAME: ClassVar[str] = MSG_GRANT
    grants: list[GrantItem] = field(default_factory=list)
    at: float | None = None

    @classmethod
    def from_msg(cls, data: object, *, where: str | None = None) -> Grant:
        if isinstance(data, dict) and "grants" not in data and "req_id" in data:
            data = {"grants": [data]}  # the single form
        return super().from_msg(data, where=where)


@dataclass
class Release(Message):
    """Sent by a worker when a user stops (``on_stop``), or when a grant arrives for a user
    that is gone: the master frees the persona (granting it to the next queued request) or
    drops the pending request. Exactly one field is set.

    :param agent_id: the persona's agent, given back.
    :param req_id: a request still pending at the master, cancelled.
    :param hour: with ``agent_id``: the simulated hour its user stopped in, the last one
        it counted the persona in (acted, missed or not owed) — the master's lease book
        ends the lease there, not in the hour the message happens to arrive in. ``None``:
        a grant no user took (it came for a user already gone): the book forgets it.
    """

    NAME: ClassVar[str] = MSG_RELEASE
    agent_id: int | None = None
    req_id: str | None = None
    hour: int | None = None

    def check(self) -> str | None:
        if (self.agent_id is None) == (self.req_id is None):
            return "exactly one of agent_id and req_id must be set"
        return None

    def to_msg(self) -> dict[str, Any]:
        return {k: v for k, v in super().to_msg().items() if v is not None}


@dataclass
class Revoke(Message):
    """Sent by the master to a worker that was missing long enough for its personas to be
    reclaimed and leased again, when it comes back: its users holding them let them go
    and lease others (``harness.agent.user``).

    :param agent_ids: the reclaimed personas' agents.
    """

    NAME: ClassVar[str] = MSG_REVOKE
    agent_ids: list[int]


@dataclass
class ContractError(Message):
    """Sent by a worker at its first contract error (401/403/404/405/422 — a wrong route,
    token or body; at most one a second per process): the master's run guard trips the
    breaker at once, naming the method, path and status. The master's and a standalone
    process's own errors take the same typed form without travelling.

    :param method: the HTTP method.
    :param path: the request path without its query.
    :param status: the HTTP status.
    :param detail: the target's ``detail`` (≤ 200 characters).
    :param cause: what such a status usually means (``harness.config.routes``).
    :param agent_id: the agent whose request it was (``None``: the master's own call).
    """

    NAME: ClassVar[str] = MSG_CONTRACT
    method: str = ""
    path: str = ""
    status: int = 0
    detail: str = ""
    cause: str = ""
    agent_id: int | None = None


@dataclass
class Refused(Message):
    """Sent by a worker that will not act in this run (its database differs from the
    master's, or it has none), before it quits with exit 2: the master logs who and why.

    :param reason: one line, for the master's log.
    """

    NAME: ClassVar[str] = MSG_REFUSED
    reason: str


@dataclass
class LlmTokensAsk(Message):
    """Sent by a worker (standalone: by the process to itself) whose lease of model tokens
    runs low — before its first model call and whenever what is left of its lease would not
    fit its next few calls (``harness.agent.llm.TokenLease``). The master answers with
    :class:`LlmTokensGrant` from the run's ``--llm-budget-tokens``
    (``harness.control.llm_budget``). One ask is outstanding per process at a time.

    :param tokens: how many more tokens it wants (> 0).
    :param spent: the tokens its model calls have used so far (for the master's log).
    """

    NAME: ClassVar[str] = MSG_LLM_ASK
    tokens: int
    spent: int = 0

    def check(self) -> str | None:
        return None if self.tokens > 0 else "tokens must be > 0"


@dataclass
class LlmTokensGrant(Message):
    """Sent by the master to the worker that asked (:class:`LlmTokensAsk`): tokens from
    the run's budget, at most what is left and at most an even share of it per worker. The
    worker adds them to its lease; a grant of 0 with nothing left means the budget is spent
    and every further decision of that worker is the rules'.

    :param tokens: tokens granted (≥ 0).
    :param left: what the run's budget holds after this grant.
    """

    NAME: ClassVar[str] = MSG_LLM_GRANT
    tokens: int
    left: int

    def check(self) -> str | None:
        return None if self.tokens >= 0 and self.left >= 0 else "tokens and left must be >= 0"


@dataclass
class WorkerReport(Message):
    """Sent by every worker every 3 s inside Locust's own report (``report_to_master``,
    under :data:`REPORT_KEY`; the master reads it in ``worker_report``): the hour book
    merges the counters, the run guard pauses the whole run on the worst process's outage
    and counts every process's 429s. The database stays the source of truth for the
    breaker's counts when there is one.

    :param hours: per simulated hour (its number as a string), the counters drained since
        the last report: ``counts``, ``errors``, slips as an encoded HDR histogram.
    :param throttled: 429 answers this worker has had so far.
    :param unavailable: its current run of consecutive unavailable answers.
    :param pending: once its clock reached the run's simulated end, its users still owing
        an hour, by that hour (as a string); ``None`` before (the run's end waits for
        ``{}`` from every worker, ``harness.control.finish.RunEnd``).
    """

    NAME: ClassVar[str] = REPORT_KEY
    hours: dict[str, dict[str, Any]] = field(default_factory=dict)
    throttled: int = 0
    unavailable: int = 0
    pending: dict[str, int] | None = None

    def check(self) -> str | None:
        for hour, data in self.hours.items():
            if not str(hour).lstrip("-").isdigit():
                return f"hours: {hour!r} is not an hour number"
            for key in ("counts", "errors"):
                counters = data.get(key) or {}
                if not isinstance(counters, dict) or not all(
                    isinstance(v, int) for v in counters.values()
                ):
                    return f"hours[{hour!r}].{key}: expected a map of integer counters"
        if self.pending is not None and not all(
            str(h).lstrip("-").isdigit() and isinstance(n, int) for h, n in self.pending.items()
        ):
            return "pending: expected a map of hour number to user count"
        return None


@dataclass(frozen=True)
class DbFingerprint(Part):
    """Which database a process uses, without the password: enough for a worker to check
    that its own ``DATABASE_URL`` is the master's, and for the manifest to say what the
    database really was."""

    host: str
    port: int
    database: str
    user: str
    embedded: bool = False

    @classmethod
    def from_url(cls, url: str | URL, *, embedded: bool = False) -> DbFingerprint:
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


@dataclass
class RunConfig(Message):
    """Sent by the master to a worker in answer to its :class:`Hello`, and to every worker
    whenever it changes: a worker joins or leaves (rate and connection shares are
    re-divided), pause/resume (the clock), a new offer cycle (the catalog version). A
    joining worker adopts the master's harness options (warning once, naming its own that
    differ), checks the database fingerprint — or sends :class:`Refused` and quits — then
    builds its engine and HTTP pools and lets its users act; later ones re-apply the clock
    and the shares. Standalone, the director applies it directly.

    :param run_id: the run.
    :param seed: the run seed (persona order, decisions).
    :param sim_start: simulated start, ISO.
    :param sim_end: simulated end, ISO (``None``: open-ended).
    :param clock: the ``SimClock`` (its ``to_dict``).
    :param api_url: the target (``None`` with ``--mock-api``).
    :param database_url: only the embedded default's (loopback, no credentials).
    :param rate_share: requests/s of each worker (the master keeps its control share).
    :param mock_api: ``--mock-api``.
    :param mock_db: ``--mock-db``.
    :param replay_until_hour: hours below this are replays (``--resume``).
    :param catalog_version: bumped by an offer cycle: workers reload the catalog.
    :param options: ``processes`` and the target's ``routes``.
    :param harness: the master's ``HarnessOptions.to_json()``: every option a worker obeys.
    :param db: the run database's :class:`DbFingerprint` (``None`` with ``--mock-db``).
    :param db_share: database connections each worker may hold (0: not divided yet).
    """

    NAME: ClassVar[str] = MSG_CONFIG
    run_id: str
    seed: int
    sim_start: str
    sim_end: str | None
    clock: dict[str, Any]
    api_url: str | None
    database_url: str | None
    rate_share: float
    mock_api: bool
    mock_db: bool
    replay_until_hour: int = -1
    catalog_version: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    harness: dict[str, Any] = field(default_factory=dict)
    db: dict[str, Any] | None = None
    db_share: int = 0

    def to_msg(self) -> dict[str, Any]:
        d = super().to_msg()
        if d.get("database_url") and has_password(d["database_url"]):
            d["database_url"] = None  # never on the wire: workers use their own DATABASE_URL
        return d

    def check(self) -> str | None:
        try:
            _fingerprint(self.db)
        except MessageError as exc:
            return str(exc)
        return None

    @property
    def fingerprint(self) -> DbFingerprint | None:
        return _fingerprint(self.db)


def _fingerprint(db: dict[str, Any] | None) -> DbFingerprint | None:
    """The database's fingerprint, or ``None`` for none (``--mock-db``)."""
    return DbFingerprint.from_msg(db, where="db") if db else None


MESSAGES: tuple[type[Message], ...] = (
    Hello, RunConfig, Refused, LeaseRequest, Grant, Release, Revoke, ContractError,
    LlmTokensAsk, LlmTokensGrant, WorkerReport,
)  # fmt: skip
"""Every message of the control plane, in the order of the protocol table above."""


def has_password(url: object) -> bool:
    """Whether a database URL carries a password (in the user part or the query)."""
    from sqlalchemy import make_url

    try:
        u = make_url(str(url).replace("postgres://", "postgresql://", 1))
    except Exception:  # noqa: BLE001 - unparsable: treat as secret
        return True
    return bool(u.password) or "password" in {k.lower() for k in u.query}
