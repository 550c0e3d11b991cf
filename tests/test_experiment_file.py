"""The experiment file (offer_engine.experiment): parsed into a typed object, bad files are
one line naming file, line and key, and the stratified assignment is stable, order-free
and respects the allocation within every stratum."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from db.errors import ConfigError
from db.settings import SimSettings
from offer_engine.experiment import ExperimentError, load_experiment, parse_experiment
from personas import SAMPLE_PATH
from personas.reader import read_personas

TWO_ARMS = """\
seed = 7
control = "current"
stratify = ["income", "household_size"]
[arms.current]
allocation = 0.5
[arms.deeper]
allocation = 0.5
discount_multiplier = 2.0      # x the catalog's coupon values
wallet_capacity = 8
frontstore_per_cycle = 1
category_brand_per_cycle = 5
expiration_days = 3.5
"""


@pytest.fixture(scope="module")
def people():
    return read_personas(Path(SAMPLE_PATH))


def test_the_issue_file_parses_into_a_typed_experiment(tmp_path):
    f = tmp_path / "two_arms.toml"
    f.write_text(TWO_ARMS)
    e = load_experiment(f)
    assert (e.seed, e.control, e.stratify) == (7, "current", ("income", "household_size"))
    assert [a.name for a in e.arms] == ["current", "deeper"]
    assert [a.name for a in e.treatments] == ["deeper"]
    deeper = e.arm("deeper")
    assert deeper.multiplier == 2.0 and e.arm("current").multiplier == 1.0
    s = deeper.settings(SimSettings(MAX_WALLET_CAPACITY=32, OFFER_EXPIRATION_DAYS=14))
    assert (s.max_wallet_capacity, s.frontstore_per_cycle, s.category_brand_per_cycle) == (8, 1, 5)
    assert s.offer_expiration_days == 3.5
    base = SimSettings(MAX_WALLET_CAPACITY=32, FRONTSTORE_PER_CYCLE=2)
    assert e.arm("current").settings(base) is base  # a key left out keeps the run's setting
    assert e.describe()["arms"][1] == {
        "name": "deeper", "allocation": 0.5, "discount_multiplier": 2.0, "wallet_capacity": 8,
        "frontstore_per_cycle": 1, "category_brand_per_cycle": 5, "expiration_days": 3.5,
    }  # fmt: skip


def test_persona_side_parameters_are_marked():
    e = parse_experiment(
        TWO_ARMS + "[arms.deeper.persona]\nprice_consciousness = 0.9\n", path="p.toml"
    )
    d = e.arm("deeper")
    assert d.persona_side and not e.arm("current").persona_side
    assert d.apply_persona({"persona_id": "P1", "price_consciousness": 0.2}) == {
        "persona_id": "P1", "price_consciousness": 0.9,
    }  # fmt: skip
    assert e.describe()["arms"][1]["persona_side"] is True


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("discount_multiplier = 2.0", "discount_multiplyer = 2.0"),
         "bad.toml: line 8: [arms.deeper] discount_multiplyer: unknown parameter"),
        (("allocation = 0.5\ndiscount", "allocation = 0.6\ndiscount"),
         "bad.toml: line 7: [arms.deeper] allocation: allocations sum to 1.1, they must sum to 1"),
        (('control = "current"', 'control = "baseline"'),
         "bad.toml: line 2: control: 'baseline' is not an arm (current, deeper)"),
        (('"household_size"]', '"shoe_size"]'), "bad.toml: line 3: stratify: unknown key 'shoe_size'"),
        (("wallet_capacity = 8", "wallet_capacity = 0"),
         "bad.toml: line 9: [arms.deeper] wallet_capacity: expected an integer >= 1, got 0"),
        (("expiration_days = 3.5", "expiration_days = -1"),
         "bad.toml: line 12: [arms.deeper] expiration_days: expected a number of days > 0"),
        (("seed = 7", "seed = 7\ncolour = 1"), "bad.toml: line 2: colour: unknown key"),
        (("seed = 7", "seed = = 7"), "bad.toml: not valid TOML: "),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_line_naming_file_line_and_key(edit, expected):
    text = TWO_ARMS.replace(*edit)
    assert text != TWO_ARMS
    with pytest.raises(ExperimentError) as err:
        parse_experiment(text, path="bad.toml")
    msg = str(err.value)
    assert msg.startswith(expected), msg
    assert "\n" not in msg
    assert isinstance(err.value, ConfigError)  # exit 2 wherever ConfigError is


def test_a_bad_persona_attribute_is_named():
    with pytest.raises(ExperimentError, match=r"line 14: \[arms.deeper\] price_consciousness: 3"):
        parse_experiment(TWO_ARMS + "[arms.deeper.persona]\nprice_consciousness = 3\n", path="b")
    with pytest.raises(ExperimentError, match=r"\[arms.deeper\] persona_id: not a persona"):
        parse_experiment(TWO_ARMS + "[arms.deeper.persona]\npersona_id = 'x'\n", path="b")


def test_an_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(ExperimentError, match=r"^--experiment .*nope.toml: cannot read"):
        load_experiment(tmp_path / "nope.toml")


def test_assignment_respects_the_allocation_within_every_stratum(people):
    e = parse_experiment(TWO_ARMS, path="x")
    a = e.assign(people)
    assert len(a.arm) == len(people) == 372
    strata = Counter(a.stratum.values())
    counts = a.counts()
    for s, n in strata.items():
        for arm in ("current", "deeper"):
            assert abs(counts[arm].get(s, 0) - 0.5 * n) <= 1, (s, n, counts)
    totals = Counter(a.arm.values())
    assert abs(totals["current"] - totals["deeper"]) <= 1
    # an uneven split (0.7 / 0.3): still within one per stratum and overall
    e73 = parse_experiment(
        TWO_ARMS.replace("allocation = 0.5\n[", "allocation = 0.7\n[").replace(
            "allocation = 0.5\ndisc", "allocation = 0.3\ndisc"
        ),
        path="x",
    )
    a73 = e73.assign(people)
    c73 = a73.counts()
    for s, n in Counter(a73.stratum.values()).items():
        assert abs(c73["current"].get(s, 0) - 0.7 * n) <= 1, (s, n)
    assert abs(Counter(a73.arm.values())["current"] - 0.7 * 372) <= 1


def test_assignment_is_stable_for_the_seed_and_free_of_input_order(people):
    e = parse_experiment(TWO_ARMS, path="x")
    first = e.assign(people).arm
    shuffled = list(people)
    random.Random(3).shuffle(shuffled)
    assert e.assign(shuffled).arm == first
    other = e.with_seed(8).assign(people).arm
    changed = sum(first[p] != other[p] for p in first)
    assert 100 < changed < 272  # another seed is another (random) split


def test_an_arm_without_personas_is_refused(people):
    tiny = TWO_ARMS.replace("allocation = 0.5\n[", "allocation = 0.999\n[").replace(
        "allocation = 0.5\ndisc", "allocation = 0.001\ndisc"
    )
    e = parse_experiment(tiny, path="tiny.toml")
    with pytest.raises(ExperimentError) as err:
        e.assign(people[:50])
    assert str(err.value).startswith(
        "tiny.toml: line 6: [arms.deeper] has no personas after stratification (50 personas"
    )
