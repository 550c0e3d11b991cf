"""Float options must be finite: ``nan`` passes every ``<=``/``<`` check and ``inf`` never
ends a run, so both are refused with one line naming the option (exit 2 via ConfigError)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from db.errors import ConfigError
from harness.config.options import HarnessOptions, parse_ramp


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_time_scale_must_be_finite_and_positive(value):
    with pytest.raises(ConfigError) as err:
        HarnessOptions.from_parsed(SimpleNamespace(time_scale=float(value)))
    assert str(err.value) == f"--time-scale {float(value)}: must be a finite number > 0"
    assert err.value.exit_code == 2


@pytest.mark.parametrize("option", ["rate_limit", "breaker_threshold", "drain_seconds"])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_other_float_options_must_be_finite(option, value):
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ConfigError, match=re.escape(flag) + ".*must be a finite number >= 0"):
        HarnessOptions.from_parsed(SimpleNamespace(**{option: float(value)}))


def test_finite_values_still_pass():
    opts = HarnessOptions.from_parsed(
        SimpleNamespace(time_scale=48.0, rate_limit=0.0, breaker_threshold=5.0, drain_seconds=0.0)
    )
    assert opts.time_scale == 48.0 and opts.drain_seconds == 0.0


@pytest.mark.parametrize("bad", ["nan:10", "inf:10,0:20"])
def test_ramp_hours_must_be_finite(bad):
    with pytest.raises(ConfigError, match="--ramp stage"):
        parse_ramp(bad)
