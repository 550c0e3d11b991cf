"""Offer experiments: an experiment file parsed into a typed :class:`Experiment`, and the
stratified randomization of personas into its arms.

The file (TOML; the reference API's settings use the same words)::

    seed = 7
    control = "current"
    stratify = ["income", "household_size"]
    primary_metric = "orders_per_persona_week"     # optional
    [arms.current]
    allocation = 0.5
    [arms.deeper]
    allocation = 0.5
    discount_multiplier = 2.0      # × the catalog's coupon values
    wallet_capacity = 16           # MAX_WALLET_CAPACITY
    frontstore_per_cycle = 2       # FRONTSTORE_PER_CYCLE
    category_brand_per_cycle = 10  # CATEGORY_BRAND_PER_CYCLE
    expiration_days = 7            # OFFER_EXPIRATION_DAYS
    [arms.deeper.persona]          # persona-side: shoppers, not offers
    price_consciousness = 0.9

An arm that leaves an offer key out has the run's setting. ``[arms.NAME.persona]`` sets
persona attributes for that arm's personas: a *persona-side* arm studies "what if shoppers
were different", not an offer strategy, and the readout says so.

Every error is one line naming the file, the line and the key (:class:`ExperimentError`, a
``ConfigError``: exit 2). Pure: no SQL, no HTTP, no Locust.

Assignment (:meth:`Experiment.assign`): personas are grouped by their stratum (the values of
the ``stratify`` keys), strata are taken in a seeded order and each one's personas in a
seeded order (both from the persona ids, so the input order does not matter); positions of
that sequence go to the arm furthest below its allocation (ties in a seeded arm order). Each
stratum's count per arm is then within one of ``allocation × stratum size`` for two arms,
and the whole population's too.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from db.errors import ConfigError
from db.settings import SimSettings
from personas.model import PERSONA_FIELDS, Persona, frequency_band

OFFER_KEYS: dict[str, str] = {
    "wallet_capacity": "max_wallet_capacity",
    "frontstore_per_cycle": "frontstore_per_cycle",
    "category_brand_per_cycle": "category_brand_per_cycle",
    "expiration_days": "offer_expiration_days",
}
"""Experiment key → the ``SimSettings`` field it overrides for the arm's wallets."""
ARM_KEYS = ("allocation", "discount_multiplier", *OFFER_KEYS, "persona")
TOP_KEYS = ("seed", "control", "stratify", "arms", "primary_metric", "name", "description")
METRICS = (
    "orders_per_persona_week",
    "conversion",
    "redemption_rate_per_coupon",
    "redemption_rate_per_persona_cycle",
    "basket_value",
    "revenue_per_persona_week",
    "discount_cost_per_persona_week",
)
"""The readout's metrics (``reports.experiment``), in its order."""
STRATA: dict[str, str] = {
    "income": "income_band",
    "income_band": "income_band",
    "household_size": "household_size",
    "price_sensitivity": "price_consciousness",
    "price_consciousness": "price_consciousness",
    "discount_sensitivity": "discount_sensitivity",
    "coupon_affinity": "coupon_affinity",
    "frequency": "shopping_frequency",
    "shopping_frequency": "shopping_frequency",
    "channel": "channel",
    "gender": "gender",
    "segment": "segment",
}
"""Stratification keys → the persona attribute they band."""
_NOT_SETTABLE = {"persona_id", "name"}


class ExperimentError(ConfigError):
    """A bad experiment file, or an assignment it cannot make (one line, exit 2)."""


@dataclass(frozen=True)
class Arm:
    """One arm: its share of the personas and what differs for them.

    Attributes:
        name: The arm's name (``[arms.NAME]``).
        allocation: Its share of every stratum (all arms sum to 1).
        discount_multiplier: × the catalog's coupon values in its wallets (None: 1).
        offer: Offer-engine settings it overrides (``SimSettings`` field → value).
        persona: Persona attributes it sets (persona-side: not an offer strategy).
    """

    name: str
    allocation: float
    discount_multiplier: float | None = None
    offer: Mapping[str, Any] = field(default_factory=dict)
    persona: Mapping[str, Any] = field(default_factory=dict)

    @property
    def multiplier(self) -> float:
        return 1.0 if self.discount_multiplier is None else self.discount_multiplier

    @property
    def persona_side(self) -> bool:
        return bool(self.persona)

    def settings(self, base: SimSettings) -> SimSettings:
        """The run's offer settings with this arm's overrides."""
        return base.model_copy(update=dict(self.offer)) if self.offer else base

    def apply_persona(self, persona: Mapping[str, Any]) -> dict[str, Any]:
        """A persona's fields (JSON form) with this arm's persona-side attributes set."""
        return {**persona, **self.persona} if self.persona else dict(persona)

    def describe(self) -> dict[str, Any]:
        """JSON-safe: what the manifest and the readout show for the arm."""
        inv = {v: k for k, v in OFFER_KEYS.items()}
        out: dict[str, Any] = {"name": self.name, "allocation": self.allocation}
        if self.discount_multiplier is not None:
            out["discount_multiplier"] = self.discount_multiplier
        out.update({inv[k]: v for k, v in self.offer.items()})
        if self.persona:
            out["persona"] = dict(self.persona)
            out["persona_side"] = True
        return out


@dataclass(frozen=True)
class Assignment:
    """Which arm and stratum each persona is in (by persona id)."""

    arm: Mapping[str, str]
    stratum: Mapping[str, str]

    def counts(self) -> dict[str, dict[str, int]]:
        """Personas per arm and stratum: ``{arm: {stratum: n}}`` (sorted)."""
        out: dict[str, dict[str, int]] = {}
        for pid, arm in self.arm.items():
            per = out.setdefault(arm, {})
            per[self.stratum[pid]] = per.get(self.stratum[pid], 0) + 1
        return {a: dict(sorted(s.items())) for a, s in sorted(out.items())}


@dataclass(frozen=True)
class Experiment:
    """A parsed, validated experiment file."""

    path: str
    text: str
    seed: int
    control: str
    stratify: tuple[str, ...]
    arms: tuple[Arm, ...]
    primary_metric: str = METRICS[0]
    name: str = ""

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)

    @property
    def treatments(self) -> tuple[Arm, ...]:
        return tuple(a for a in self.arms if a.name != self.control)

    def with_seed(self, seed: int) -> Experiment:
        from dataclasses import replace

        return replace(self, seed=int(seed))

    def stratum_of(self, persona: Persona | Mapping[str, Any]) -> str:
        """The persona's stratum: ``key=value|…`` over ``stratify`` (``all`` without keys)."""
        p = persona if isinstance(persona, Persona) else Persona(**persona)
        return "|".join(f"{k}={_band(k, p)}" for k in self.stratify) or "all"

    def assign(self, personas: Iterable[Persona | Mapping[str, Any]]) -> Assignment:
        """Stratified randomization of ``personas`` into the arms (see the module's text).

        Raises:
            ExperimentError: an arm has no persona (naming the arm's key).
        """
        by_stratum: dict[str, list[str]] = {}
        for p in personas:
            pp = p if isinstance(p, Persona) else Persona(**p)
            by_stratum.setdefault(self.stratum_of(pp), []).append(pp.persona_id)
        rng = random.Random(f"{self.seed}:experiment")
        order = sorted(by_stratum, key=lambda s: _h(self.seed, "stratum", s))
        names = [a.name for a in self.arms]
        tie = {n: rng.random() for n in names}
        alloc = {a.name: a.allocation for a in self.arms}
        given = dict.fromkeys(names, 0)
        arm_of: dict[str, str] = {}
        stratum_of: dict[str, str] = {}
        i = 0
        for s in order:
            for pid in sorted(set(by_stratum[s]), key=lambda x: _h(self.seed, "persona", x)):
                i += 1
                pick = max(names, key=lambda n: (alloc[n] * i - given[n], tie[n]))
                given[pick] += 1
                arm_of[pid], stratum_of[pid] = pick, s
        for a in self.arms:
            if not given[a.name]:
                raise ExperimentError(
                    f"{self.path}: line {_line(self.text, a.name, None)}: [arms.{a.name}] has no "
                    f"personas after stratification ({len(arm_of)} personas, allocation "
                    f"{a.allocation:g}, {len(by_stratum)} strata)"
                )
        return Assignment(arm=arm_of, stratum=stratum_of)

    def describe(self, assignment: Assignment | None = None) -> dict[str, Any]:
        """JSON-safe: the manifest's ``experiment`` (the file, its arms, the counts)."""
        out: dict[str, Any] = {
            "file": self.path,
            "sha256": hashlib.sha256(self.text.encode()).hexdigest(),
            "contents": self.text,
            "seed": self.seed,
            "control": self.control,
            "stratify": list(self.stratify),
            "primary_metric": self.primary_metric,
            "arms": [a.describe() for a in self.arms],
        }
        if assignment is not None:
            counts = assignment.counts()
            out["counts"] = counts
            out["personas_per_arm"] = {a: sum(s.values()) for a, s in counts.items()}
        return out


def _h(seed: int, what: str, key: str) -> str:
    return hashlib.blake2b(f"{seed}:{what}:{key}".encode(), digest_size=8).hexdigest()


def _band(key: str, p: Persona) -> str:
    attr = STRATA[key]
    if attr == "segment":
        return p.segment
    value = getattr(p, attr)
    if attr == "household_size":
        return str(value) if value < 5 else "5+"
    if attr == "shopping_frequency":
        return frequency_band(value)
    if isinstance(value, float):  # a 0–1 trait: thirds
        return "low" if value < 1 / 3 else "mid" if value < 2 / 3 else "high"
    return str(value)


def _line(text: str, arm: str | None, key: str | None) -> int:
    """The line of ``key`` (in ``[arms.ARM]`` when ``arm`` is given), else of the arm's
    header, else 1."""
    section: str | None = None
    header_line = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"^\[\s*([^\]]+?)\s*\]$", line)
        if m:
            section = m.group(1).replace('"', "").replace(" ", "")
            if arm is not None and section == f"arms.{arm}":
                header_line = n
            continue
        want = None if arm is None else f"arms.{arm}"
        if key is not None and section in (want, f"{want}.persona" if want else None):
            if re.match(rf'^"?{re.escape(key)}"?\s*=', line):
                return n
    return header_line or 1


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file.

    Raises:
        ExperimentError: one line naming the file, the line and the key.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentError(f"--experiment {p}: cannot read: {exc.strerror or exc}") from None
    return parse_experiment(text, path=str(p))


def parse_experiment(text: str, *, path: str = "<experiment>") -> Experiment:
    """Validate an experiment file's ``text`` into an :class:`Experiment`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: not valid TOML: {exc}") from None

    def fail(arm: str | None, key: str | None, why: str) -> ExperimentError:
        where = f"[arms.{arm}] " if arm is not None else ""
        return ExperimentError(f"{path}: line {_line(text, arm, key)}: {where}{key or ''}: {why}")

    for key in data:
        if key not in TOP_KEYS:
            raise fail(None, key, f"unknown key (known: {', '.join(TOP_KEYS)})")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise fail(None, "seed", f"expected an integer, got {seed!r}")
    arms_raw = data.get("arms")
    if not isinstance(arms_raw, dict) or len(arms_raw) < 2:
        raise fail(None, "arms", "at least two arms, each an [arms.NAME] table")
    arms = tuple(_arm(name, raw, fail) for name, raw in arms_raw.items())
    total = sum(a.allocation for a in arms)
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise fail(arms[-1].name, "allocation", f"allocations sum to {total:g}, they must sum to 1")
    control = data.get("control", arms[0].name)
    if not isinstance(control, str) or control not in arms_raw:
        raise fail(None, "control", f"{control!r} is not an arm ({', '.join(arms_raw)})")
    stratify = data.get("stratify", [])
    if not isinstance(stratify, list) or not all(isinstance(s, str) for s in stratify):
        raise fail(None, "stratify", "expected a list of persona attributes")
    for s in stratify:
        if s not in STRATA:
            raise fail(None, "stratify", f"unknown key {s!r} (known: {', '.join(STRATA)})")
    primary = data.get("primary_metric", METRICS[0])
    if primary not in METRICS:
        raise fail(None, "primary_metric", f"{primary!r} is not one of {', '.join(METRICS)}")
    return Experiment(
        path=path, text=text, seed=seed, control=control, stratify=tuple(stratify),
        arms=arms, primary_metric=primary, name=str(data.get("name", "")),
    )  # fmt: skip


def _arm(name: str, raw: Any, fail: Any) -> Arm:
    if not isinstance(raw, dict):
        raise fail(None, "arms", f"arms.{name} must be a table [arms.{name}]")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", name):
        raise fail(name, None, "arm names are 1-32 letters, digits, '_', '-' or '.'")
    for key in raw:
        if key not in ARM_KEYS:
            raise fail(name, key, f"unknown parameter (known: {', '.join(ARM_KEYS)})")
    alloc: Any = raw.get("allocation")
    if not _number(alloc) or not 0 < alloc <= 1:
        raise fail(name, "allocation", f"expected a number in (0, 1], got {alloc!r}")
    mult: Any = raw.get("discount_multiplier")
    if mult is not None and (not _number(mult) or not 0 < mult <= 10):
        raise fail(name, "discount_multiplier", f"expected a number in (0, 10], got {mult!r}")
    offer: dict[str, Any] = {}
    for key, attr in OFFER_KEYS.items():
        if key not in raw:
            continue
        v = raw[key]
        if key == "expiration_days":
            if not _number(v) or v <= 0:
                raise fail(name, key, f"expected a number of days > 0, got {v!r}")
            offer[attr] = float(v)
        else:
            low = 1 if key == "wallet_capacity" else 0
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise fail(name, key, f"expected an integer >= {low}, got {v!r}")
            offer[attr] = v
    persona = raw.get("persona", {})
    if not isinstance(persona, dict):
        raise fail(name, "persona", f"expected a table [arms.{name}.persona]")
    for key, v in persona.items():
        if key not in PERSONA_FIELDS or key in _NOT_SETTABLE:
            raise fail(name, key, "not a persona attribute an arm may set")
        info = Persona.model_fields[key]
        kind: Any = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        try:
            TypeAdapter(kind).validate_python(v)
        except ValidationError as exc:
            why = exc.errors()[0].get("msg", "invalid")
            raise fail(name, key, f"{v!r}: {why}") from None
    return Arm(
        name=name, allocation=float(alloc), discount_multiplier=None if mult is None else float(mult),
        offer=offer, persona=dict(persona),
    )  # fmt: skip


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
