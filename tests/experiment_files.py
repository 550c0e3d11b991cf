"""Experiment files (``--experiment FILE``, read by ``offer_engine.experiment``) for the
tests and ``bench/bench_experiment.py``: two arms of 0.5 each, stratified by income, the
first the control. Written out as TOML text, so each test still reads a real file."""

from __future__ import annotations

import json

Value = int | float | str


def two_arms(
    *,
    seed: int,
    control: str = "current",
    treatment: str = "deeper",
    persona: dict[str, Value] | None = None,
    **offers: Value,
) -> str:
    """The file's text: ``[arms.<control>]`` as the run is, ``[arms.<treatment>]`` with
    ``offers`` (its offer keys, in the order given) and ``persona`` (its
    ``[arms.<treatment>.persona]`` table, when given)."""
    lines = [
        f"seed = {seed}",
        f"control = {_toml(control)}",
        'stratify = ["income"]',
        f"[arms.{control}]",
        "allocation = 0.5",
        f"[arms.{treatment}]",
        "allocation = 0.5",
        *(f"{k} = {_toml(v)}" for k, v in offers.items()),
    ]
    if persona is not None:
        lines += [f"[arms.{treatment}.persona]", *(f"{k} = {_toml(v)}" for k, v in persona.items())]
    return "\n".join(lines) + "\n"


def _toml(v: Value) -> str:
    return json.dumps(v) if isinstance(v, str) else repr(v)


DEEPER = two_arms(seed=1, discount_multiplier=2.0)
"""A planted effect: the treatment's offers twice as deep."""

AA = two_arms(seed=1, control="a", treatment="b")
"""Two identical arms: any difference between them is chance."""
