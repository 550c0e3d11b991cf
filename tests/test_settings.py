"""Settings: the owner's environment names and validation (exit code 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from db.errors import ConfigError
from db.settings import load_settings


def test_defaults_are_the_owners_numbers(settings_env):
    s = load_settings()
    assert (s.offer_cycle_days, s.offer_expiration_days) == (7, 14)
    assert (s.max_wallet_capacity, s.frontstore_per_cycle, s.category_brand_per_cycle) == (
        32,
        2,
        30,
    )
    assert s.simulation_mode is False and s.database_url is None
    assert s.wallet_full_policy == "replace_oldest"


def test_environment_names_are_read(settings_env):
    settings_env.setenv("SIMULATION_MODE", "true")
    settings_env.setenv("OFFER_CYCLE_DAYS", "3.5")
    settings_env.setenv("MAX_WALLET_CAPACITY", "40")
    settings_env.setenv("DATABASE_URL", "postgresql://u:p@h:6543/db")
    s = load_settings()
    assert s.simulation_mode is True and s.offer_cycle_days == 3.5 and s.max_wallet_capacity == 40
    assert s.database_url.endswith(":6543/db")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"OFFER_EXPIRATION_DAYS": "-5"}, "> 0 simulated days"),
        ({"MAX_WALLET_CAPACITY": "10"}, "below one cycle's assignment"),
        ({"OFFER_CYCLE_DAYS": "0"}, "> 0 simulated days"),
        ({"WALLET_FULL_POLICY": "drop"}, "WALLET_FULL_POLICY"),
        ({"FRONTSTORE_PER_CYCLE": "x"}, "FRONTSTORE_PER_CYCLE"),
        ({"LOADSIM_MASTER_SILENCE_S": "0"}, "LOADSIM_MASTER_SILENCE_S: Input should be greater"),
        ({"LOADSIM_MASTER_SILENCE_S": "soon"}, "LOADSIM_MASTER_SILENCE_S: Input should be a valid"),
    ],
)
def test_bad_values_are_one_clear_config_error(settings_env, env, fragment):
    for k, v in env.items():
        settings_env.setenv(k, v)
    with pytest.raises(ConfigError, match="invalid settings") as exc:
        load_settings()
    assert fragment in str(exc.value)
    assert exc.value.exit_code == 2


def test_master_silence_is_read_with_the_settings(settings_env):
    """A hand-started worker's patience with a silent master (``watch_master``): 30 s
    unset or blank, else the owner's number."""
    settings_env.delenv("LOADSIM_MASTER_SILENCE_S", raising=False)
    assert load_settings().master_silence_s == 30.0
    settings_env.setenv("LOADSIM_MASTER_SILENCE_S", " ")
    assert load_settings().master_silence_s == 30.0
    settings_env.setenv("LOADSIM_MASTER_SILENCE_S", "5")
    assert load_settings().master_silence_s == 5.0


def test_cli_exits_2_on_bad_settings(settings_env, tmp_path):
    import os

    env = dict(os.environ, OFFER_CYCLE_DAYS="-1", LOADSIM_HOME=str(tmp_path))
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "db", "status"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert "OFFER_CYCLE_DAYS: Value error, must be > 0 simulated days" in r.stderr
    assert not (tmp_path / "pg").exists()  # nothing started, nothing written


def test_time_scale_is_the_runs_not_a_setting(settings_env):
    """The simulated clock's scale is ``--time-scale`` of the run, published in
    ``simulation_state``; a ``TIME_SCALE`` in the environment (an owner's app may have one)
    is not read, so it can neither disagree with the run nor stop a command."""
    settings_env.setenv("TIME_SCALE", "-1")
    s = load_settings()
    assert "time_scale" not in type(s).model_fields
