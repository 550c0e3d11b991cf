"""Request and response models of the HTTP contract (docs/ARCHITECTURE.md).

These shapes are what the harness's HTTP client is written against: keep field names and
types. Money is integer cents everywhere; simulated instants are ISO 8601 with a UTC offset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_LINE_QUANTITY = 999
"""Most units of one product a cart line may hold (keeps totals inside int4 columns)."""


BIGINT_MAX = 2**63 - 1
"""Ids are ``bigint``: a larger one can never exist, so it is a 422, not a database error."""


def _db_safe(value: str) -> str:
    # Postgres text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8: both
    # would otherwise surface as driver errors (5xx) instead of a clear 422.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


SafeStr = Annotated[str, AfterValidator(_db_safe)]
Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]


class _Body(BaseModel):
    # Unknown keys in a request body are a client bug worth a 422, not a silent ignore.
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every 4xx except 422 (which has FastAPI's ``HTTPValidationError`` shape)."""

    detail: str


class HealthOut(BaseModel):
    status: Literal["ok"]
    simulation_mode: bool
    simulated_time: datetime | None
    offer_engine: Literal["reference"] = "reference"
    """Which offer engine this API runs: this project's own (``offer_engine``), so the
    harness may run it on the database too (``--offer-engine local``) or drive it here
    (``--offer-engine target``) — never both."""


class StoreOut(BaseModel):
    id: int
    code: str
    name: str
    city: str | None


class StoresOut(BaseModel):
    items: list[StoreOut]


class ProductOut(BaseModel):
    id: int
    sku: str
    name: str
    category: str
    brand: str
    price_cents: int
    store_id: int


class ProductsOut(BaseModel):
    items: list[ProductOut]
    total: int
    limit: int
    offset: int


class CartAddIn(_Body):
    product_id: Id
    quantity: int = Field(default=1, ge=1, le=MAX_LINE_QUANTITY)


class CartRemoveIn(_Body):
    product_id: Id


class ApplyCouponIn(_Body):
    user_coupon_id: Id


class CartLineOut(BaseModel):
    product_id: int
    name: str
    category: str
    brand: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class CartOut(BaseModel):
    items: list[CartLineOut]
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    applied_user_coupon_id: int | None


class WalletItemOut(BaseModel):
    user_coupon_id: int
    coupon_id: int
    code: str
    title: str
    kind: Literal["frontstore", "category_brand"]
    discount_type: Literal["percent", "amount"]
    discount_value: int
    min_spend_cents: int
    category: str | None
    brand: str | None
    status: Literal["active", "expired", "redeemed"]
    assigned_sim_at: datetime | None
    expires_sim_at: datetime | None
    catalog_discount_value: int | None = None
    """The coupon's catalog value when this wallet copy has its own (an experiment arm's
    discount multiplier); null otherwise."""


class WalletOut(BaseModel):
    items: list[WalletItemOut]
    count: int


class AssignOut(BaseModel):
    status: Literal["assigned", "not_due", "no_cycle"]
    assigned: int
    expired: int
    replaced: int
    cycle_number: int | None


class ViewOut(BaseModel):
    user_coupon_id: int
    viewed_count: int


class CheckoutIn(_Body):
    idempotency_key: Annotated[SafeStr, Field(min_length=1, max_length=128)]


class OrderOut(BaseModel):
    order_id: int
    idempotency_key: str
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    item_count: int
    user_coupon_id: int | None
    simulated_at: datetime
    created: bool


class CycleOut(BaseModel):
    id: int
    run_id: str | None
    cycle_number: int
    simulated_start_date: datetime
    simulated_end_date: datetime
    status: str
    stats: dict | None = None


class CyclesOut(BaseModel):
    items: list[CycleOut]


class CycleCreateIn(_Body):
    cycle_number: int | None = Field(default=None, ge=0, le=2**31 - 1)
    """Create this cycle number instead of the next one (idempotent: an existing cycle is
    returned as it is)."""


class TimeAdvanceIn(_Body):
    simulated_time: datetime


class TimeOut(BaseModel):
    simulated_time: datetime
