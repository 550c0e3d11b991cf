"""The schema: every table of docs/ARCHITECTURE.md (Data), owned here; migrations are generated from it.

Names marked *(fixed)* in the design are relied on by reports, tools and checks. The
constraints below are what make the concurrency rules enforceable by the database itself
(unique natural keys for idempotent retries, check constraints for status values).

Conventions:
- money is integer cents; simulated instants are ``*_sim_at`` / ``simulated_*`` columns,
  real instants are ``*_at`` with server defaults;
- every row the simulation writes carries ``is_simulated`` (or the owner's historical
  ``is_simulation`` on the offer-engine tables) so the harness can keep to its own rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EVENT_TYPES = (
    "session_start",
    "view_product",
    "cart_add_item",
    "cart_remove_item",
    "view_coupon",
    "apply_coupon",
    "checkout_complete",
    "checkout_failed",
    "abandon",
    "idle_browse",
)
SESSION_STATUSES = ("active", "completed", "abandoned")
COUPON_STATUSES = ("active", "expired", "redeemed")
RUN_STATUSES = ("running", "paused", "completed", "stopped", "breaker", "failed", "aborted")


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


TZ = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, datetime: TZ}


# --------------------------------------------------------------------------- app tables


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    is_simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Agent(Base):
    """One simulated shopper: a user bound to one persona (28 attributes in ``persona``)."""

    __tablename__ = "agents"
    __table_args__ = (CheckConstraint(_in("status", ("active", "inactive")), name="status"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, index=False
    )
    persona_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    is_simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    persona: Mapped[dict[str, Any]] = mapped_column(JSONB)
    persona_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    is_simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents > 0", name="price_positive"),
        Index("ix_products_store_category", "store_id", "category"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64))
    brand: Mapped[str] = mapped_column(String(64))
    price_cents: Mapped[int] = mapped_column(Integer)
    is_simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class Coupon(Base):
    """A coupon template; ``user_coupons`` are its copies in wallets.

    ``kind`` frontstore applies to any basket; category_brand needs an item matching
    ``category`` and/or ``brand``. ``discount_type`` percent (``discount_value`` in %) or
    amount (cents).
    """

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint(_in("kind", ("frontstore", "category_brand")), name="kind"),
        CheckConstraint(_in("discount_type", ("percent", "amount")), name="discount_type"),
        CheckConstraint("discount_value > 0", name="discount_positive"),
        CheckConstraint(
            "discount_type <> 'percent' OR discount_value <= 100", name="percent_max_100"
        ),
        CheckConstraint("min_spend_cents >= 0", name="min_spend_non_negative"),
        CheckConstraint(
            "kind <> 'category_brand' OR category IS NOT NULL OR brand IS NOT NULL",
            name="category_brand_target",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    discount_type: Mapped[str] = mapped_column(String(10))
    discount_value: Mapped[int] = mapped_column(Integer)
    min_spend_cents: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    category: Mapped[str | None] = mapped_column(String(64))
    brand: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    is_simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class UserCoupon(Base):
    """A coupon in a user's wallet. At most one *active* copy of a coupon per user."""

    __tablename__ = "user_coupons"
    __table_args__ = (
        CheckConstraint(_in("status", COUPON_STATUSES), name="status"),
        CheckConstraint(
            "removed_reason IS NULL OR " + _in("removed_reason", ("expired", "replaced")),
            name="removed_reason",
        ),
        Index(
            "uq_user_coupons_active_user_coupon",
            "user_id",
            "coupon_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        Index(
            "ix_user_coupons_active_expiry",
            "expires_sim_at",
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    offer_cycle_id: Mapped[int | None] = mapped_column(
        ForeignKey("offer_cycles.id", ondelete="SET NULL")
    )
    is_simulation: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    assigned_sim_at: Mapped[datetime | None] = mapped_column(TZ)
    expires_sim_at: Mapped[datetime | None] = mapped_column(TZ)
    redeemed_sim_at: Mapped[datetime | None] = mapped_column(TZ)
    removed_sim_at: Mapped[datetime | None] = mapped_column(TZ)
    removed_reason: Mapped[str | None] = mapped_column(String(16))
    viewed_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    discount_value: Mapped[int | None] = mapped_column(Integer)
    """This wallet copy's own value when an experiment arm scales the catalog's
    (``discount_multiplier``); NULL: the coupon's ``discount_value``."""


class CartItem(Base):
    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("user_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    added_sim_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CartCoupon(Base):
    """The coupon applied to a user's current cart (at most one)."""

    __tablename__ = "cart_coupons"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    user_coupon_id: Mapped[int] = mapped_column(
        ForeignKey("user_coupons.id", ondelete="CASCADE"), unique=True
    )
    applied_sim_at: Mapped[datetime | None] = mapped_column(TZ)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("subtotal_cents >= 0", name="subtotal_non_negative"),
        CheckConstraint("discount_cents >= 0", name="discount_non_negative"),
        CheckConstraint("total_cents >= 0", name="total_non_negative"),
        Index("ix_orders_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'placed'"))
    subtotal_cents: Mapped[int] = mapped_column(Integer)
    discount_cents: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total_cents: Mapped[int] = mapped_column(Integer)
    user_coupon_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_coupons.id", ondelete="SET NULL"), unique=True
    )
    is_simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    simulated_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)


# ----------------------------------------------------------------- offer engine tables


class OfferCycle(Base):
    """One offer cycle. ``(run_id, cycle_number)`` is the natural key (NULL run = the
    server's own cycles), so creating cycle *n* twice is impossible."""

    __tablename__ = "offer_cycles"
    __table_args__ = (
        UniqueConstraint("run_id", "cycle_number", postgresql_nulls_not_distinct=True),
        CheckConstraint("cycle_number >= 0", name="cycle_number_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    cycle_number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ends_at: Mapped[datetime | None] = mapped_column(TZ)
    simulated_start_date: Mapped[datetime] = mapped_column(TZ)
    simulated_end_date: Mapped[datetime] = mapped_column(TZ)
    is_simulation: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'created'"))
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """What running the cycle did: counts of expired/replaced/assigned, duration."""


class UserOfferCycle(Base):
    __tablename__ = "user_offer_cycles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    current_cycle_id: Mapped[int | None] = mapped_column(
        ForeignKey("offer_cycles.id", ondelete="SET NULL")
    )
    last_refresh_at: Mapped[datetime | None] = mapped_column(TZ)
    next_refresh_at: Mapped[datetime | None] = mapped_column(TZ)
    is_simulation: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class SimulationState(Base):
    """The simulated clock of one owner: ``key`` = a run id, or ``'server'`` for the
    reference API's own time (set by ``POST /time/advance``)."""

    __tablename__ = "simulation_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    simulated_date: Mapped[datetime] = mapped_column(TZ)
    real_start_time: Mapped[datetime | None] = mapped_column(TZ)
    cycle_number: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    time_scale: Mapped[float | None] = mapped_column(Float)
    paused: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    anchor: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


# ---------------------------------------------------------------------- harness tables


class SimulationRun(Base):
    __tablename__ = "simulation_runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status"),)

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(TZ)
    time_scale: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'running'"))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    sim_start: Mapped[datetime | None] = mapped_column(TZ)
    sim_end: Mapped[datetime | None] = mapped_column(TZ)
    last_sim_hour: Mapped[int | None] = mapped_column(Integer)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(TZ)
    """Touched by a live run's master every few seconds (start-up clean-up spares live runs)."""


class AgentHour(Base):
    """The per-agent-per-sim-hour decision record: one row per (run, agent, sim hour).

    Its primary key is what guarantees no agent shops twice for one simulated hour, also
    across a crash and ``--resume``. It is also the database's own account of each hour
    (acted / failed / missed, slip) that the breaker and reports read.
    """

    __tablename__ = "agent_hours"
    __table_args__ = (
        CheckConstraint(
            _in(
                "outcome", ("pending", "completed", "abandoned", "idle", "none", "failed", "missed")
            ),
            name="outcome",
        ),
        Index("ix_agent_hours_run_hour", "run_id", "sim_hour"),
    )

    run_id: Mapped[str] = mapped_column(
        ForeignKey("simulation_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    sim_hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision: Mapped[str] = mapped_column(String(16))
    """``shop``, ``idle`` (idle browse), ``none`` (nothing this hour) or ``missed``."""
    outcome: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    slip_seconds: Mapped[float | None] = mapped_column(Float)
    worker: Mapped[str | None] = mapped_column(String(64))
    is_replay: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(TZ)


class PersonaLease(Base):
    """History of persona leases: which worker/user held which agent, and when."""

    __tablename__ = "persona_leases"
    __table_args__ = (
        Index("ix_persona_leases_run_agent", "run_id", "agent_id"),
        Index(
            "uq_persona_leases_open",
            "run_id",
            "agent_id",
            unique=True,
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("simulation_runs.run_id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    holder: Mapped[str] = mapped_column(String(128))
    leased_at: Mapped[datetime] = mapped_column(server_default=func.now())
    released_at: Mapped[datetime | None] = mapped_column(TZ)
    release_reason: Mapped[str | None] = mapped_column(String(32))


class ShoppingSession(Base):
    __tablename__ = "shopping_sessions"
    __table_args__ = (
        CheckConstraint(_in("status", SESSION_STATUSES), name="status"),
        CheckConstraint(_in("kind", ("shop", "idle_browse")), name="kind"),
        UniqueConstraint("run_id", "agent_id", "sim_hour"),
        Index("ix_shopping_sessions_status", "status", postgresql_where=text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("simulation_runs.run_id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    sim_hour: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), server_default=text("'shop'"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    abandon_reason: Mapped[str | None] = mapped_column(String(64))
    started_sim_at: Mapped[datetime] = mapped_column(TZ)
    ended_sim_at: Mapped[datetime | None] = mapped_column(TZ)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(TZ)
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    item_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    cart_value_cents: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    discount_cents: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    coupon_applied: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_replay: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    arm: Mapped[str | None] = mapped_column(String(32))
    """The agent's experiment arm (``--experiment``); NULL in a run without one."""


class ExperimentAssignment(Base):
    """Which arm and stratum of a run's experiment each agent is in (``--experiment``),
    decided by the master before any agent acts (``offer_engine.experiment``)."""

    __tablename__ = "experiment_assignments"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("simulation_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    persona_id: Mapped[str] = mapped_column(String(64))
    arm: Mapped[str] = mapped_column(String(32))
    stratum: Mapped[str] = mapped_column(String(200))


class ShoppingSessionEvent(Base):
    """One step of the graph: the ML training data. ``(session_id, seq)`` is its natural
    key, so a retried write after a dropped connection cannot duplicate it."""

    __tablename__ = "shopping_session_events"
    __table_args__ = (
        CheckConstraint(_in("event_type", EVENT_TYPES), name="event_type"),
        UniqueConstraint("session_id", "seq"),
        Index("ix_shopping_session_events_run", "run_id", "event_type"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("shopping_sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[int | None] = mapped_column(BigInteger)
    user_coupon_id: Mapped[int | None] = mapped_column(BigInteger)
    quantity: Mapped[int | None] = mapped_column(Integer)
    price_cents: Mapped[int | None] = mapped_column(Integer)
    sim_time: Mapped[datetime] = mapped_column(TZ)
    real_time: Mapped[datetime] = mapped_column(server_default=func.now())
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    is_replay: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_simulated: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


metadata = Base.metadata
