"""``loadsim experiment simulate`` / ``plan``: the whole experiment offline (the rules and
graph of ``loadsim calibrate``, no API, no database) — each arm's wallets as its file
says, the same experiment.json shape, and the same seed gives the same readout."""

from __future__ import annotations

import json

from harness.cli.app import main
from harness.cli.commands.experiment import _population, simulate_outcomes
from offer_engine.experiment import parse_experiment
from reports.experiment import OUTPUT_KEYS
from tests.experiment_files import two_arms

FILE = two_arms(seed=4, treatment="small", wallet_capacity=2, discount_multiplier=2.0)


def test_each_arm_gets_its_wallet_offline():
    exp = parse_experiment(FILE, path="x.toml")
    outcomes = simulate_outcomes(exp, _population(16), weeks=2, seed=4)
    assert len(outcomes) == 16
    offered = {o.arm: set() for o in outcomes}
    for o in outcomes:
        offered[o.arm].add(o.coupons_offered)
        assert o.weeks == 2.0 and o.cycles_offered == 2
        assert o.sessions_with_order <= o.sessions
    assert offered == {"current": {16}, "small": {4}}  # 8 / week vs capacity 2 / week


def test_simulate_writes_the_readout_and_is_reproducible(tmp_path, capsys):
    f = tmp_path / "e.toml"
    f.write_text(FILE)
    args = ["experiment", "simulate", str(f), "--personas", "16", "--weeks", "1"]
    assert main([*args, "--seed", "9", "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "--seed", "9", "-o", str(tmp_path / "b")]) == 0
    a = (tmp_path / "a" / "experiment.json").read_text()
    assert a == (tmp_path / "b" / "experiment.json").read_text()
    result = json.loads(a)
    assert set(result) == {"arms", "metrics"}
    assert all(tuple(m) == OUTPUT_KEYS for m in result["metrics"])
    assert any("redemption" in m["metric"] for m in result["metrics"])
    assert (tmp_path / "a" / "experiment_forest.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["experiment", "plan", str(f), "--personas", "16", "--weeks", "1"]) == 0
    out = capsys.readouterr().out
    assert "minimum detectable effect at 80 % power" in out and "small" in out
