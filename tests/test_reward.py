"""The reward: hand-computed values for a deal, a failed call and an unfinished one."""
from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import make_scenarios
from debtgpt.agreement import Agreement
from debtgpt.config import RewardConfig
from debtgpt.dialogue import Scenario, Trajectory, Turn
from debtgpt.reward import POLICY_DEFAULT_CE, reward_spread, score

WEIGHTS = RewardConfig()  # CR 1, CE 0.25, SA 0.5, LS 0.5, experience 0.5, violations 1, format_errors 1


def scenario(principal=10_000.0, daily_income=100.0, current_assets=5_000.0) -> Scenario:
    base = make_scenarios(1)[0]
    record = replace(base.record, principal=principal, daily_income=daily_income, current_assets=current_assets)
    return Scenario(base.id, record, base.persona)


def deal_trajectory(judge_scores=None) -> Trajectory:
    terms = Agreement(0.10, 0.25, 7, 6)
    turns = [
        Turn("collector", "non", "identity verification", "Hello."),
        Turn("debtor", "non", "vague response", "Maybe."),
        Turn("collector", "ask", "repayment negotiation", "10% off.", proposal=terms, violations=("discount_without_hardship",)),
        Turn("debtor", "accept", "repayment negotiation", "Deal."),
    ]
    return Trajectory(scenario(), "expert", "scripted", 0, turns=turns, outcome="deal", agreement=terms, judge_scores=judge_scores)


def test_policy_default_ce_is_the_reference():
    assert WEIGHTS.ce_reference == pytest.approx(POLICY_DEFAULT_CE) == pytest.approx(0.25 / 7 + 0.75 / 180)


def test_affordable_deal_with_one_violating_turn():
    reward, parts = score(deal_trajectory(), WEIGHTS)
    # CR = 0.9; CE = 0.9 * CE(default terms) so CE_norm = 0.9; SA: 2250 due <= 0.85 * (5000 + 700);
    # LS: 6750 due <= 0.95 * 100 * 30 * 6; one of two collector turns violates the envelope.
    assert parts["CR"] == pytest.approx(0.9) and parts["CE_norm"] == pytest.approx(0.9)
    assert parts["SA"] == 1.0 and parts["LS"] == 1.0 and parts["experience"] is None
    assert parts["violation_share"] == 0.5 and parts["format_error_share"] == 0.0
    assert reward == pytest.approx(0.9 + 0.25 * 0.9 + 0.5 + 0.5 - 0.5)  # 1.625


def test_judge_scores_add_experience():
    reward, parts = score(deal_trajectory({"respect_empathy": 7, "transparency": 7, "feasibility": 7}), WEIGHTS)
    assert parts["experience"] == pytest.approx(6 / 9)
    assert reward == pytest.approx(1.625 + 0.5 * 6 / 9)


def test_unaffordable_deal_loses_rationality():
    t = deal_trajectory()
    t.scenario = scenario(daily_income=10.0, current_assets=0.0)  # 2250 due vs 0.85 * 70; 6750 vs 0.95 * 1800
    reward, parts = score(t, WEIGHTS)
    assert parts["SA"] == 0.0 and parts["LS"] == 0.0
    assert reward == pytest.approx(0.9 + 0.225 - 0.5)


def test_failed_dialogue_has_no_recovery_nor_rationality_but_keeps_penalties():
    turns = [
        Turn("collector", "non", "identity verification", "Hello."),
        Turn("debtor", "non", "complaint", "Terrible service."),
        Turn("collector", "non", "establish trust", "", raw="{oops", format_error="no JSON object"),
        Turn("debtor", "hangup", "emotional confrontation", "Goodbye."),
    ]
    t = Trajectory(scenario(), "llm", "scripted", 0, turns=turns, outcome="hangup")
    reward, parts = score(t, WEIGHTS)
    assert (parts["CR"], parts["CE_norm"], parts["SA"], parts["LS"]) == (0.0, 0.0, 0.0, 0.0)
    assert parts["format_error_share"] == 0.5
    assert reward == pytest.approx(-0.5)


def test_unfinished_dialogue_and_missing_weight_are_errors():
    with pytest.raises(ValueError, match="finished"):
        score(Trajectory(scenario(), "expert", "scripted", 0), WEIGHTS)
    with pytest.raises(ValueError, match="'LS' is missing"):
        score(deal_trajectory(), {"CR": 1, "CE": 0, "SA": 0, "ce_reference": 0.04})


def test_reward_spread():
    assert reward_spread([3, 1, 2, None]) == {"n": 3, "min": 1.0, "q25": 2.0, "median": 2.0, "q75": 3.0, "mean": 2.0, "max": 3.0}
    assert reward_spread([])["mean"] is None
