"""Writes each agent's hour to Postgres: the decision record, the session, its events.

Per-agent commits (the owner's choice): one agent's hour is its own
transactions, so one agent failing never loses another's data.

- A *shopping* or *idle-browse* hour is **claimed** before anything is done against the
  API: ``agent_hours`` (primary key run × agent × sim hour) + an ``active`` session, in one
  statement. If the row already exists (a resumed run re-running the hour), the hour is
  skipped: no agent shops twice for one simulated hour.
- It is **finished** in one statement: events (natural key session × seq, so a retry
  after a dropped connection cannot duplicate them), the session's status, the record's
  outcome and slip — as ``harness.agent.hour`` mapped them (the one outcome table); the
  decision is known at the claim and never rewritten.
- Each of the two is one round trip (``db.engine.one_statement``: no pre-ping, and no
  transaction around a statement that is atomic on its own, where the engine allows); a
  connection that died while idle fails it, and the retry (``_retrying``) takes a new one.
- Quiet hours (nothing to do) and missed hours are buffered and written in bulk every few
  seconds with ``ON CONFLICT DO NOTHING``: they shop nothing, so batching them is safe,
  and at 10,000 agents they are ~98 % of all agent-hours.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import gevent
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from db.engine import one_statement

if TYPE_CHECKING:
    from behaviors.run import HourResult

log = logging.getLogger(__name__)

Measure = Callable[[str, float, BaseException | None], None]
T = TypeVar("T")

QUIET_MAX = 20_000
"""Quiet hours buffered at most per process (~5 MB); a full buffer makes users wait."""

# The claim in one statement: the hour's row (its session id drawn from the sessions'
# sequence) and, only if that row is new, its session. Was three statements (hour, session,
# link) — two round trips of a recorded hour's ~10 (bench/bench_db_writes.py).
_CLAIM_ONE = text(
    """
    WITH c AS (
        INSERT INTO agent_hours (run_id, agent_id, sim_hour, decision, outcome, worker, is_replay,
            session_id)
        VALUES (:run_id, :agent_id, :sim_hour, :decision, 'pending', :worker, :is_replay,
            nextval(pg_get_serial_sequence('shopping_sessions', 'id')))
        ON CONFLICT DO NOTHING
        RETURNING session_id
    ), s AS (
        INSERT INTO shopping_sessions (id, run_id, agent_id, sim_hour, kind, status,
            started_sim_at, is_replay, arm)
        SELECT c.session_id, :run_id, :agent_id, :sim_hour, :kind, 'active', :sim_at, :is_replay,
            :arm
        FROM c
        ON CONFLICT (run_id, agent_id, sim_hour) DO UPDATE SET kind = EXCLUDED.kind
        RETURNING id
    )
    SELECT c.session_id AS drawn, s.id AS sid FROM c CROSS JOIN s
    """
)
_CLAIM_OWNER = text(
    """
    SELECT h.worker, h.session_id, s.id AS existing
    FROM agent_hours h
    LEFT JOIN shopping_sessions s
        ON s.run_id = h.run_id AND s.agent_id = h.agent_id AND s.sim_hour = h.sim_hour
    WHERE h.run_id = :run_id AND h.agent_id = :agent_id AND h.sim_hour = :sim_hour
    """
)
_SESSION = text(
    """
    INSERT INTO shopping_sessions (run_id, agent_id, sim_hour, kind, status, started_sim_at, is_replay,
        arm)
    VALUES (:run_id, :agent_id, :sim_hour, :kind, 'active', :sim_at, :is_replay, :arm)
    ON CONFLICT (run_id, agent_id, sim_hour) DO UPDATE SET kind = EXCLUDED.kind
    RETURNING id
    """
)
_LINK = text(
    "UPDATE agent_hours SET session_id = :sid WHERE run_id = :run_id AND agent_id = :agent_id "
    "AND sim_hour = :sim_hour"
)
# The whole finish in one statement (events from one JSON array, the session's and the
# hour's outcome as sibling CTEs): ~25 statement round trips became one, client CPU per
# finished hour 4.3 -> 1.4 ms, events 2,600 -> 6,000+ rows/s (BENCHMARKS.md).
_FINISH = text(
    """
    WITH ev AS (
        INSERT INTO shopping_session_events
            (session_id, seq, run_id, agent_id, event_type, product_id, user_coupon_id, quantity,
             price_cents, sim_time, real_time, payload, is_replay)
        SELECT :sid, x.seq, :run_id, :agent_id, x.event_type, x.product_id, x.user_coupon_id,
               x.quantity, x.price_cents, x.sim_time, COALESCE(to_timestamp(x.real_time), now()),
               x.payload, :is_replay
        FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS x(seq int, event_type text,
            product_id bigint, user_coupon_id bigint, quantity int, price_cents int,
            sim_time timestamptz, real_time float8, payload jsonb)
        ON CONFLICT (session_id, seq) DO NOTHING
    ), s AS (
        UPDATE shopping_sessions SET status = :status, abandon_reason = :reason,
            ended_sim_at = :ended_sim_at, ended_at = now(), order_id = :order_id,
            item_count = :item_count, cart_value_cents = :cart_value, discount_cents = :discount,
            coupon_applied = :coupon_applied
        WHERE id = :sid
    )
    UPDATE agent_hours SET outcome = :outcome, slip_seconds = :slip,
        error_kind = :error_kind, finished_at = now()
    WHERE run_id = :run_id AND agent_id = :agent_id AND sim_hour = :sim_hour
    """
)
_QUIET = text(
    """
    INSERT INTO agent_hours (run_id, agent_id, sim_hour, decision, outcome, slip_seconds, worker,
        is_replay, finished_at)
    SELECT :run_id, x.agent_id, x.sim_hour, x.decision, x.outcome, x.slip, :worker, x.is_replay, now()
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS x(agent_id bigint, sim_hour int, decision text, outcome text, slip float8, is_replay bool)
    ON CONFLICT DO NOTHING
    """
)


def _retrying(fn: Callable[[], T], *, attempts: int = 4, what: str = "db") -> T:
    """Retry a unit of work whose statements are all idempotent (natural keys + ON CONFLICT,
    or plain UPDATEs), with exponential backoff and jitter, on connection-level errors."""
    for i in range(attempts):
        try:
            return fn()
        except (OperationalError, DBAPIError) as exc:
            if not getattr(exc, "connection_invalidated", False) and not isinstance(
                exc, OperationalError
            ):
                raise
            if i == attempts - 1:
                raise
            delay = min(2.0, 0.05 * 2**i) * (0.5 + random.random())
            log.warning(
                "%s: connection error, retry %d in %.2fs: %s",
                what,
                i + 1,
                delay,
                exc.__class__.__name__,
            )
            _sleep(delay)
    raise AssertionError("unreachable")


def _sleep(s: float) -> None:
    try:
        import gevent

        gevent.sleep(s)
    except ImportError:  # pragma: no cover
        time.sleep(s)


class Recorder:
    """One per process; shared by every user of the process (the engine pools connections)."""

    def __init__(self, engine: Engine, *, run_id: str, worker: str, measure: Measure | None = None):
        self.engine = engine
        self.run_id = run_id
        self.worker = worker
        self._measure = measure or (lambda name, ms, exc: None)
        self._quiet: list[dict[str, Any]] = []
        self.arms: dict[int, str] = {}
        """``--experiment``: each leased agent's arm (set by its user), written on its
        sessions and in its events' payload; empty in a run without an experiment."""

    # ---------------------------------------------------------------- shopping hours

    def claim(
        self,
        *,
        agent_id: int,
        sim_hour: int,
        decision: str,
        sim_at: datetime,
        is_replay: bool,
        token: str,
    ) -> int | None:
        """Claim the hour with its known ``decision`` (``shop`` | ``idle``) and open its
        session; ``None`` when someone else claimed it already (a resumed run re-running
        it). Returns the session id."""
        owner = f"{self.worker}/{token}"
        params = dict(
            run_id=self.run_id, agent_id=agent_id, sim_hour=sim_hour, decision=decision,
            worker=owner, is_replay=is_replay,
        )  # fmt: skip

        session = dict(
            params, kind="shop" if decision == "shop" else "idle_browse", sim_at=sim_at,
            arm=self.arms.get(agent_id),
        )  # fmt: skip

        def work() -> int | None:
            # The common case is the one statement alone (no transaction around it where
            # the engine allows: db.engine.one_statement); the rest, rare, in a transaction.
            with one_statement(self.engine) as conn:
                new = conn.execute(_CLAIM_ONE, session).first()
            if new is not None and new.sid == new.drawn:
                return int(new.sid)
            with self.engine.begin() as conn:
                if new is not None:  # a session of this hour existed: link that one
                    conn.execute(_LINK, dict(params, sid=new.sid))
                    return int(new.sid)
                # Ours after all if a reply was lost after commit (same owner token). Its
                # session is looked up by the hour, not trusted from the row: a lost link
                # (the claim committed on its own) leaves the drawn id there.
                row = conn.execute(_CLAIM_OWNER, params).first()
                if row is None or row.worker != owner:
                    return None
                sid = row.existing
                if sid is None:  # a row without a session
                    sid = conn.execute(_SESSION, session).scalar_one()
                if sid != row.session_id:
                    conn.execute(_LINK, dict(params, sid=sid))
                return int(sid)

        return self._timed("claim_hour", work)

    def finish(
        self,
        *,
        agent_id: int,
        sim_hour: int,
        session_id: int,
        result: HourResult,
        slip_s: float | None,
        is_replay: bool,
        status: str,
        outcome: str,
        reason: str | None,
        error_kind: str | None,
    ) -> None:
        """Write the hour's events, the session's ``status`` and the hour's ``outcome`` in
        one transaction (one statement). The caller maps the outcome; nothing here does."""
        arm = self.arms.get(agent_id)
        events = json.dumps(
            [
                dict(
                    seq=i,
                    event_type=e.event_type,
                    product_id=e.product_id,
                    user_coupon_id=e.user_coupon_id,
                    quantity=e.quantity,
                    price_cents=e.price_cents,
                    sim_time=e.sim_time,
                    real_time=e.real_time,  # when it happened (paced runs); None: now()
                    payload=e.payload if arm is None else {**(e.payload or {}), "arm": arm},
                )  # fmt: skip
                for i, e in enumerate(result.events)
            ],
            default=str,
        )
        order = result.order
        params = dict(
            sid=session_id, run_id=self.run_id, agent_id=agent_id, sim_hour=sim_hour,
            is_replay=is_replay, events=events, status=status, reason=reason,
            ended_sim_at=result.events[-1].sim_time if result.events else None,
            order_id=order.order_id if order else None,
            item_count=result.item_count, cart_value=result.cart_value_cents,
            discount=result.discount_cents, coupon_applied=result.coupon_applied,
            outcome=outcome, slip=slip_s, error_kind=error_kind,
        )  # fmt: skip

        def work() -> None:
            with one_statement(self.engine) as conn:
                conn.execute(_FINISH, params)

        self._timed("session_commit", work)

    # ---------------------------------------------------------------- quiet hours

    def quiet(
        self, *, agent_id: int, sim_hour: int, decision: str, slip_s: float | None, is_replay: bool
    ) -> None:
        """Buffer a no-shopping or missed hour (written by ``flush``).

        Bounded with back-pressure: while :data:`QUIET_MAX` rows wait (the
        database is down), the calling user waits for a flush instead of the buffer
        growing without limit; its next slips show the stall."""
        while len(self._quiet) >= QUIET_MAX:
            gevent.sleep(0.5)
        self._quiet.append(
            dict(
                agent_id=agent_id,
                sim_hour=sim_hour,
                decision=decision,
                outcome="missed" if decision == "missed" else "none",
                slip=slip_s,
                is_replay=is_replay,
            )  # fmt: skip
        )

    def flush(self) -> int:
        """Write buffered quiet hours in one statement; returns how many were written."""
        if not self._quiet:
            return 0
        rows, self._quiet = self._quiet, []
        payload = json.dumps(rows)

        def work() -> None:
            with self.engine.begin() as conn:
                conn.execute(_QUIET, dict(run_id=self.run_id, worker=self.worker, rows=payload))

        try:
            self._timed("quiet_hours_batch", work)
        except Exception:
            self._quiet[:0] = rows  # keep them for the next flush: nothing lost
            raise
        return len(rows)

    def _timed(self, name: str, work: Callable[[], T]) -> T:
        t0 = time.perf_counter()
        try:
            out = _retrying(work, what=name)
        except Exception as exc:
            self._measure(name, (time.perf_counter() - t0) * 1000, exc)
            raise
        self._measure(name, (time.perf_counter() - t0) * 1000, None)
        return out


class NullRecorder:
    """``--mock-db``: nothing is written; claims always succeed with a local session id."""

    def __init__(self) -> None:
        self._next = 0
        self.arms: dict[int, str] = {}

    def claim(self, **_: object) -> int:
        self._next += 1
        return self._next

    def finish(self, **_: object) -> None:
        return None

    def quiet(self, **_: object) -> None:
        return None

    def flush(self) -> int:
        return 0
