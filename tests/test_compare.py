import numpy as np
import pytest

from debtgpt.agreement import Agreement
from debtgpt.leaderboard import comparison_sentence
from eval.compare import bootstrap_difference, paired_rewards
from eval.run import parse_comparison

from helpers import collector, deal, debtor, make_scenario


def test_a_clear_gain_has_an_interval_above_zero():
    rng = np.random.default_rng(0)
    b = rng.normal(1.0, 0.3, size=200)
    result = bootstrap_difference(b + 0.2, b, samples=1000)
    assert result["difference"] == pytest.approx(0.2)
    assert 0 < result["ci_low"] <= 0.2 <= result["ci_high"] and result["share_a_better"] == 1.0
    assert "is above" in comparison_sentence("dpo", "sft", result)


def test_noise_alone_gives_an_interval_around_zero():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 0.3, size=200), rng.normal(1.0, 0.3, size=200)
    result = bootstrap_difference(a, b, samples=1000)
    assert result["ci_low"] < 0 < result["ci_high"]
    assert "no clear difference" in comparison_sentence("dpo", "sft", result)


def test_rewards_are_paired_by_scenario_and_sample():
    terms = Agreement(0.0, 0.25, 7, 6)
    s1, s2 = make_scenario(sid="A"), make_scenario(sid="B")
    a = [deal(s, terms, [collector("ask", terms), debtor("accept")]) for s in (s1, s2)]
    b = [deal(s, terms, [collector("ask", terms), debtor("accept")]) for s in (s2, s1)]  # other order
    for t, r in zip(a + b, (1.0, 2.0, 5.0, 4.0)):
        t.reward = r
    ra, rb, scenarios = paired_rewards(a, b)
    assert list(ra) == [1.0, 2.0] and list(rb) == [4.0, 5.0] and scenarios == ["A", "B"]


def test_the_bootstrap_resamples_whole_scenarios():
    rng = np.random.default_rng(0)
    effect = rng.normal(0, 1, size=50).repeat(4)  # four samples of each scenario move together
    b = rng.normal(0, 0.1, size=200)
    by_dialogue = bootstrap_difference(b + effect, b, samples=2000)
    by_scenario = bootstrap_difference(b + effect, b, [f"s{i // 4}" for i in range(200)], samples=2000)
    assert by_scenario["scenarios"] == 50 and by_scenario["n"] == 200
    # correlated samples of one persona are not independent evidence: the honest interval is about twice as wide
    assert by_scenario["half_width"] > 1.6 * by_dialogue["half_width"]


def test_a_comparison_must_name_two_evaluated_collectors():
    assert parse_comparison("dpo:sft", ["sft", "dpo"]) == ("dpo", "sft")
    with pytest.raises(ValueError, match="allowed names: sft, dpo"):
        parse_comparison("dpo:expert", ["sft", "dpo"])
    with pytest.raises(ValueError, match="'A:B'"):
        parse_comparison("dpo", ["sft", "dpo"])
