"""Database and offer-engine settings, read once from the environment.

The environment variable names are the owner's;
keep them. Everything is validated here so a bad value is one clear error at start-up
(exit code 2 through :class:`harness.errors.ConfigError`), never a surprise mid-run.
"""

from __future__ import annotations

import os
from typing import Literal, get_args

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PoolerMode = Literal["transaction", "session", "none"]
"""How the database is reached: through a transaction pooler (no prepared statements), a
session pooler, or directly (``db.engine`` explains the difference)."""

POOLER_MODES: tuple[str, ...] = get_args(PoolerMode)
POOLER_ENV = "LOADSIM_DB_POOLER"
MASTER_SILENCE_S = 30.0
"""``$LOADSIM_MASTER_SILENCE_S`` unset or blank (:attr:`SimSettings.master_silence_s`)."""


def parse_pooler(text: str) -> PoolerMode:
    """``'Transaction'`` → ``'transaction'``; raise ``ConfigError`` for anything else."""
    from db.errors import ConfigError

    mode = str(text).strip().lower()
    if mode not in POOLER_MODES:
        raise ConfigError(
            f"--db-pooler / {POOLER_ENV} {text!r}: expected one of {', '.join(POOLER_MODES)} "
            "(transaction for PgBouncer/Supavisor in transaction mode, whatever the port)"
        )
    return mode  # type: ignore[return-value]  # checked against POOLER_MODES just above


def pooler_from_env() -> PoolerMode | None:
    """``$LOADSIM_DB_POOLER`` when set (every engine of every process honours it, so
    ``--processes`` children and ``loadsim`` commands agree), else ``None``."""
    text = os.environ.get(POOLER_ENV, "").strip()
    return parse_pooler(text) if text else None


class SimSettings(BaseSettings):
    """Settings shared by the harness, the offer engine and the reference API.

    There is no ``TIME_SCALE`` here: the simulated clock belongs to the run
    (``loadsim run --time-scale`` / ``--time-scale`` of locust), which publishes its time in
    ``simulation_state``; the reference API and the offer engine read the simulated time
    there (or a request's ``X-Simulated-Time``), so a second scale in the environment could only
    disagree with the run's."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    """Postgres URL. Unset → the embedded Postgres under ``.loadsim/``."""

    simulation_mode: bool = Field(default=False, alias="SIMULATION_MODE")
    """Only when true does a server accept ``Bearer dev:<agent_id>`` tokens."""

    offer_cycle_days: float = Field(default=7, alias="OFFER_CYCLE_DAYS")
    """Length of one offer cycle in simulated days."""

    offer_expiration_days: float = Field(default=14, alias="OFFER_EXPIRATION_DAYS")
    """A coupon expires this many simulated days after it was assigned."""

    max_wallet_capacity: int = Field(default=32, alias="MAX_WALLET_CAPACITY")
    """Most active coupons one wallet may hold, enforced under concurrency."""

    frontstore_per_cycle: int = Field(default=2, alias="FRONTSTORE_PER_CYCLE")
    """Frontstore (any-basket) coupons assigned to each user per cycle."""

    category_brand_per_cycle: int = Field(default=30, alias="CATEGORY_BRAND_PER_CYCLE")
    """Category/brand coupons assigned to each user per cycle."""

    wallet_full_policy: Literal["replace_oldest", "skip"] = Field(
        default="replace_oldest", alias="WALLET_FULL_POLICY"
    )
    """What a cycle does when a wallet is full: expire the oldest (reason ``replaced``) or
    assign only into the free room."""

    db_statement_timeout_ms: int = Field(default=30_000, alias="DB_STATEMENT_TIMEOUT_MS")
    """Every transaction's ``statement_timeout`` (``db.engine.create_db_engine``)."""

    db_pooler: PoolerMode | None = Field(default=None, alias="LOADSIM_DB_POOLER")
    """``transaction`` / ``session`` / ``none``; unset → guessed from the URL (port 6543 →
    transaction). ``transaction`` turns prepared statements off (``db.engine``)."""

    master_silence_s: float = Field(
        default=MASTER_SILENCE_S, alias="LOADSIM_MASTER_SILENCE_S", gt=0
    )
    """Seconds without a master heartbeat before a hand-started worker gives up
    (``harness.wiring.lifecycle.watch_master``). The master sends one a second; it can be
    busy for a few seconds (start-up, reports), not for this."""

    @field_validator("db_pooler", mode="before")
    @classmethod
    def _pooler(cls, v: object) -> object:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        mode = str(v).strip().lower()
        if mode not in POOLER_MODES:
            raise ValueError(f"expected one of {', '.join(POOLER_MODES)}, got {v!r}")
        return mode

    @field_validator("master_silence_s", mode="before")
    @classmethod
    def _blank_is_default(cls, v: object) -> object:
        return MASTER_SILENCE_S if isinstance(v, str) and not v.strip() else v

    @field_validator("offer_cycle_days", "offer_expiration_days")
    @classmethod
    def _positive_days(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0 simulated days")
        return v

    @field_validator("max_wallet_capacity", "frontstore_per_cycle", "category_brand_per_cycle")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must be >= 0")
        return v

    @field_validator("database_url")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

    @model_validator(mode="after")
    def _capacity_fits_cycle(self) -> SimSettings:
        per_cycle = self.frontstore_per_cycle + self.category_brand_per_cycle
        if self.max_wallet_capacity < per_cycle:
            raise ValueError(
                f"MAX_WALLET_CAPACITY={self.max_wallet_capacity} is below one cycle's assignment "
                f"(FRONTSTORE_PER_CYCLE + CATEGORY_BRAND_PER_CYCLE = {per_cycle})"
            )
        return self

    @property
    def per_cycle(self) -> int:
        return self.frontstore_per_cycle + self.category_brand_per_cycle


def load_settings(**overrides: object) -> SimSettings:
    """Read settings from the environment; raise ``ConfigError`` (exit 2) when invalid."""
    from db.errors import ConfigError

    try:
        return SimSettings(**overrides)  # type: ignore[arg-type]  # pydantic validates them
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"{loc}: {err['msg']}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None
