"""The persona: 28 attributes (docs/ARCHITECTURE.md, Personas), each documented with what it drives.

A persona is immutable once loaded; rules read it, they never change it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

IncomeBand = Literal["low", "lower_middle", "middle", "upper_middle", "high"]
Gender = Literal["female", "male", "non_binary", "unspecified"]
TimeOfDay = Literal["morning", "afternoon", "evening", "night"]
Channel = Literal["voice", "app", "web"]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

INCOME_BANDS: tuple[str, ...] = ("low", "lower_middle", "middle", "upper_middle", "high")
GENDERS: tuple[str, ...] = ("female", "male", "non_binary", "unspecified")
TIMES_OF_DAY: tuple[str, ...] = ("morning", "afternoon", "evening", "night")
CHANNELS: tuple[str, ...] = ("voice", "app", "web")
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

TIME_OF_DAY_HOURS: dict[str, range] = {
    "morning": range(6, 12),
    "afternoon": range(12, 17),
    "evening": range(17, 22),
    "night": range(22, 30),  # 22:00–05:59, wraps past midnight (hour % 24)
}
"""Simulated local hours belonging to each time of day."""

Unit = float  # a 0–1 attribute


class Persona(BaseModel):
    """One shopper's attributes. Field order is the workbook's canonical column order."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    # identity & demographics -------------------------------------------------------
    persona_id: str = Field(min_length=1, max_length=64)
    """Stable identifier; binds the persona to one agent (and one Locust user at a time)."""
    name: str = Field(min_length=1, max_length=200)
    """Display name of the simulated user."""
    age: int = Field(ge=18, le=90)
    """Segment attribute for reports; no rule reads it directly."""
    gender: Gender
    """Segment attribute for reports."""
    income_band: IncomeBand
    """Segment attribute (stratified sampling); correlates with budget in the sample."""
    city: str = Field(min_length=1, max_length=100)
    """Segment attribute; the sample pairs it with a store in that city."""
    household_size: int = Field(ge=1, le=8)
    """Segment attribute; in the sample it drives basket size and shopping frequency."""
    occupation: str = Field(min_length=1, max_length=100)
    """Segment attribute."""

    # rhythm ----------------------------------------------------------------------
    shopping_frequency: float = Field(ge=0, le=14)
    """Expected shopping sessions per simulated week; decide_shop is normalized to it."""
    preferred_days: tuple[Weekday, ...] = Field(min_length=1)
    """Days on which shopping is more likely (decide_shop's day weight)."""
    preferred_time_of_day: TimeOfDay
    """Hours in which shopping is more likely (decide_shop's hour weight)."""
    weekday_affinity: Unit = Field(ge=0, le=1)
    """Relative weight of Mon–Fri hours."""
    weekend_affinity: Unit = Field(ge=0, le=1)
    """Relative weight of Sat–Sun hours."""
    browse_depth: int = Field(ge=1, le=50)
    """About how many products one session views (browse_products)."""

    # basket ----------------------------------------------------------------------
    avg_basket_size: float = Field(ge=1, le=40)
    """Mean items added per shopping session (add_to_cart)."""
    budget_per_trip: int = Field(gt=0)
    """Cents; add_to_cart never exceeds it. The sample sizes it to afford the average basket
    at typical prices with headroom (see ``personas.sample``), so it rarely clips baskets."""
    impulsivity: Unit = Field(ge=0, le=1)
    """Unplanned extra items, and idle browsing in hours without shopping."""
    cart_abandonment_rate: Unit = Field(ge=0, le=1)
    """Base chance to abandon at decide_checkout."""

    # preferences -----------------------------------------------------------------
    preferred_categories: tuple[str, ...] = ()
    """Categories browse_products favours (``products.category`` values)."""
    preferred_brands: tuple[str, ...] = ()
    """Brands browse_products favours, weighted by brand_loyalty."""
    brand_loyalty: Unit = Field(ge=0, le=1)
    """How strongly preferred brands win over exploration (browse, offer assignment)."""
    preferred_store: str = Field(min_length=1, max_length=64)
    """Store code (``stores.code``) whose catalog the persona browses."""

    # offers & price --------------------------------------------------------------
    discount_sensitivity: Unit = Field(ge=0, le=1)
    """How much a relevant coupon raises the chance to shop and to check out."""
    price_consciousness: Unit = Field(ge=0, le=1)
    """Favours cheaper products; raises abandonment without a coupon."""
    coupon_affinity: Unit = Field(ge=0, le=1)
    """Chance to open the wallet and apply a coupon."""
    deal_seeking: Unit = Field(ge=0, le=1)
    """Favours products that a wallet coupon covers."""

    # lifecycle -------------------------------------------------------------------
    churn_risk: Unit = Field(ge=0, le=1)
    """Dampens the chance to shop; segment attribute."""
    channel: Channel
    """Segment attribute (stratified sampling): voice, app or web."""

    @field_validator("preferred_days", mode="before")
    @classmethod
    def _days(cls, v: object) -> object:
        if isinstance(v, str):
            v = [p.strip() for p in v.split(",") if p.strip()]
        if isinstance(v, (list, tuple)):
            return tuple(str(d).strip()[:3].capitalize() for d in v)
        return v

    @field_validator("preferred_categories", "preferred_brands", mode="before")
    @classmethod
    def _csv_list(cls, v: object) -> object:
        if v is None:
            return ()
        if isinstance(v, str):
            return tuple(p.strip() for p in v.split(",") if p.strip())
        return v

    @property
    def segment(self) -> str:
        """The stratification key: channel, income band and a frequency band."""
        return f"{self.channel}/{self.income_band}/{frequency_band(self.shopping_frequency)}"


def frequency_band(freq: float) -> str:
    """Frequency band used in segments: rare (<1/wk), weekly (1–3), frequent (>3)."""
    if freq < 1:
        return "rare"
    if freq <= 3:
        return "weekly"
    return "frequent"


PERSONA_FIELDS: tuple[str, ...] = tuple(Persona.model_fields)
assert len(PERSONA_FIELDS) == 28, PERSONA_FIELDS
