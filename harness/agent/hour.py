"""The agent's hour as one unit: decide → quiet, or claim → play → finish → count.

Why one unit: the database claim ("no agent shops twice for one simulated hour") must be
taken *before* anything reaches the API, and it must carry the hour's real decision. So
the pure ``behaviors.run.decide_hour`` runs first; a quiet hour ends there (buffered, no
claim); a shopping or idle hour is claimed with that decision, played through the graph
(``behaviors.run.play_hour``, the same random stream), finished in one transaction and
counted. The outcome is mapped once, by ``OUTCOMES`` below; the recorder and the hour
counters write what they are given. ``PersonaUser`` (``harness.agent.user``) only
schedules: leases, slots, slip, missed hours.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import uuid4

from behaviors.run import HourDecision, HourResult, decide_hour, play_hour
from behaviors.shop import Shop
from harness.agent.pacing import SessionPacer
from harness.agent.wallet_view import active_at, relevant_expiries
from harness.outputs.tracing import end_session, session_span
from personas.model import Persona

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from harness.agent.hourstats import HourCollector
    from harness.agent.llm import LlmAdapter
    from harness.agent.recorder import NullRecorder, Recorder
    from harness.config.messages import RunConfig
    from harness.config.options import HarnessOptions
    from offer_engine.clock import SimClock

log = logging.getLogger("loadsim.hour")


def slot_offset_seconds(seed: int, persona_id: str) -> float:
    """The agent's stable offset inside every simulated hour, in [0, 3600) simulated
    seconds (a hash of the run seed and persona id, so load is spread over the hour)."""
    h = hashlib.blake2b(f"{seed}:{persona_id}:slot".encode(), digest_size=8).digest()
    return (int.from_bytes(h, "big") % 3_600_000) / 1000.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one hour outcome means for each record of it."""

    session_status: str | None
    """``shopping_sessions.status`` (``None``: the hour has no session)."""
    hour_outcome: str
    """``agent_hours.outcome``."""
    counter: str | None
    """The hour counter it adds to, besides ``acted`` and the decision's own."""


OUTCOMES: dict[str, Outcome] = {
    "none": Outcome(None, "none", None),
    "idle": Outcome("completed", "idle", None),
    "completed": Outcome("completed", "completed", "completed"),
    "abandoned": Outcome("abandoned", "abandoned", "abandoned"),
    "failed": Outcome("abandoned", "failed", "failed"),
}
"""The one outcome table: hour outcome → session status, ``agent_hours`` outcome, counter."""

DECISION_COUNTERS: dict[str, str] = {"none": "none", "idle": "idle", "shop": "shopped"}
"""The hour counter of each decision (every acted hour also counts ``acted``)."""


def counters_of(decision: str, outcome: str, *, order: bool = False) -> tuple[str, ...]:
    """The hour counters one acted hour adds to."""
    extra = OUTCOMES[outcome].counter
    return (
        "acted",
        DECISION_COUNTERS[decision],
        *((extra,) if extra else ()),
        *(("orders",) if order else ()),
    )


def ending_of(result: HourResult, error_kind: str | None = None) -> dict[str, Any]:
    """The recorder's ``finish`` arguments for a played hour's result (status, outcome,
    reason, error kind), from ``OUTCOMES``."""
    out = OUTCOMES[result.outcome]
    kind = error_kind or (result.error.kind if result.error is not None else None)
    reason = result.abandon_reason
    if result.outcome == "failed" and not reason:
        reason = f"failed:{kind or 'error'}"
    return {
        "status": out.session_status,
        "outcome": out.hour_outcome,
        "reason": reason,
        "error_kind": kind,
    }


class HourRuntime(Protocol):
    """What an agent's hours use of their process's runtime
    (``harness.agent.runtime.ProcessRuntime``; tests pass stand-ins with these names)."""

    @property
    def run(self) -> RunConfig | None: ...
    @property
    def recorder(self) -> Recorder | NullRecorder | None: ...
    @property
    def collector(self) -> HourCollector: ...
    @property
    def clock(self) -> SimClock | None: ...
    @property
    def graph(self) -> CompiledStateGraph | None: ...
    @property
    def llm(self) -> LlmAdapter | None: ...
    @property
    def opts(self) -> HarnessOptions: ...
    def measure_graph(self, ms: float, exc: BaseException | None = None) -> None: ...
    def measure_slip(self, ms: float) -> None: ...


@dataclass(slots=True)
class AgentHours:
    """One leased agent's hours, run one at a time by the user that holds it.

    ``relevant_expiries`` is what the agent remembers of its wallet between hours (the
    expiry instants of the coupons it cares about), the input of ``relevant_coupons``.
    """

    rt: HourRuntime
    agent_id: int
    persona: Persona
    shop: Shop
    relevant_expiries: list[datetime] = field(default_factory=list)
    pace: bool = False
    """``--pace on``: each action waits for its event's simulated moment (``pacing``)."""
    stopping: Callable[[], bool] = lambda: False
    """True once the user holding the agent is asked to stop (ends a session's waiting)."""

    def run(self, hour: int, slot: datetime, slip_s: float | None) -> str:
        """Decide, and for a shopping or idle hour claim, play, finish and count it.

        Returns the hour's outcome (``"skipped"`` when another run claimed it already).
        """
        rt = self.rt
        run, recorder = rt.run, rt.recorder
        assert run is not None and recorder is not None, "hours are played once configured"
        replay = hour < run.replay_until_hour
        hd = decide_hour(
            self.persona, run_seed=run.seed, sim_hour=hour, slot_time=slot,
            relevant_coupons=active_at(self.relevant_expiries, slot),
        )  # fmt: skip
        if hd.kind == "none":
            recorder.quiet(
                agent_id=self.agent_id, sim_hour=hour, decision="none", slip_s=slip_s,
                is_replay=replay,
            )  # fmt: skip
            rt.collector.count(hour, counters_of("none", "none"), slip_s=slip_s)
            return "none"
        try:
            sid = recorder.claim(
                agent_id=self.agent_id, sim_hour=hour, decision=hd.kind, sim_at=slot,
                is_replay=replay, token=uuid4().hex[:12],
            )  # fmt: skip
        except Exception:  # the database is down: nothing was sent, count it, keep going
            log.exception("agent %s hour %s: could not claim the hour", self.agent_id, hour)
            rt.collector.count(hour, counters_of(hd.kind, "failed"), slip_s=slip_s, error_kind="db")
            return "failed"
        if sid is None:
            log.info("agent %s hour %s already done in this run: skipped", self.agent_id, hour)
            return "skipped"
        result, error_kind = self._play(hd, hour)
        if result.wallet_seen is not None:
            self.relevant_expiries = relevant_expiries(self.persona, result.wallet_seen)
        ending = ending_of(result, error_kind)
        outcome = result.outcome
        try:
            recorder.finish(
                agent_id=self.agent_id, sim_hour=hour, session_id=sid, result=result,
                slip_s=slip_s, is_replay=replay, **ending,
            )  # fmt: skip
        except Exception:
            outcome, ending["error_kind"] = "failed", "db"
            log.exception("agent %s hour %s: could not record the session", self.agent_id, hour)
        rt.collector.count(
            hour, counters_of(hd.kind, outcome, order=result.order is not None),
            slip_s=slip_s, error_kind=ending["error_kind"],
        )  # fmt: skip
        return outcome

    def _play(self, hd: HourDecision, hour: int) -> tuple[HourResult, str | None]:
        """The graph run, timed; a bug inside it becomes a failed hour (the claimed session
        is still finished, so nothing stays pending)."""
        rt = self.rt
        assert rt.run is not None
        run_id = rt.run.run_id
        pacer = self._pacer(hd.slot_time) if self.pace else None
        llm = rt.llm  # --llm-url: the model port (harness.agent.llm)
        # paced: a model answer is waited for only until the session's next moment
        asks = llm.session(pacer) if llm is not None and pacer is not None else None
        t0 = time.perf_counter()
        try:
            with session_span(run_id=run_id, agent_id=self.agent_id, sim_hour=hour,
                              decision=hd.kind, sim_at=hd.slot_time) as span:  # fmt: skip
                result = play_hour(
                    hd, shop=pacer or self.shop, pace=pacer, graph=rt.graph,
                    checkout_key=f"{run_id}:{self.agent_id}:{hour}",
                    llm=asks or llm, llm_share=rt.opts.llm_share if llm is not None else 0.0,
                )  # fmt: skip
                end_session(span, result)  # --otel: the session's trace (no-op without)
            if llm is not None:  # the share of decisions counts the rules' baskets too
                llm.note_hour(result.steps)
        except Exception as exc:  # a bug or DB failure inside the hour: count it, keep going
            rt.measure_graph(self._busy_ms(t0, pacer), exc)
            kind = "db" if "sqlalchemy" in type(exc).__module__ else "harness"
            log.exception("agent %s hour %s failed", self.agent_id, hour)
            failed = HourResult(decision=hd.kind, outcome="failed", abandon_reason=f"failed:{kind}")
            return failed, kind
        finally:
            if pacer is not None:
                pacer.close()
            if asks is not None:
                asks.close()
        rt.measure_graph(self._busy_ms(t0, pacer))
        return result, None

    def _pacer(self, slot: datetime) -> SessionPacer:
        rt = self.rt

        def on_slip(slip_s: float) -> None:  # per action, beside the hour's own slip
            rt.measure_slip(slip_s * 1000)  # the harness's timings, not Locust's stats

        def clock() -> SimClock:  # the live clock: pause and resume replace it
            assert rt.clock is not None
            return rt.clock

        return SessionPacer(
            self.shop, slot_time=slot, clock=clock, stopping=self.stopping,
            on_slip=on_slip,
        )  # fmt: skip

    @staticmethod
    def _busy_ms(t0: float, pacer: SessionPacer | None) -> float:
        """The graph's own time: a paced session's waiting is not work."""
        waited = pacer.waited_s if pacer is not None else 0.0
        return max(0.0, time.perf_counter() - t0 - waited) * 1000

    def missed(self, hour: int) -> None:
        """Record a slot that passed while the agent was busy or the process overloaded."""
        rt = self.rt
        assert rt.run is not None and rt.recorder is not None
        rt.recorder.quiet(
            agent_id=self.agent_id, sim_hour=hour, decision="missed", slip_s=None,
            is_replay=hour < rt.run.replay_until_hour,
        )  # fmt: skip
        rt.collector.count(hour, ("missed",))
