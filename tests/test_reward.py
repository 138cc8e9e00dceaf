"""The reward: hand-computed values for a deal, a failed call and an unfinished one; breaking the rules never pays."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from debtgpt.agreement import Agreement
from debtgpt.dialogue import Scenario, Trajectory, Turn
from debtgpt.reward import POLICY_DEFAULT_CE, reward_spread, score
from pipeline.config import RewardConfig

from conftest import make_scenarios

WEIGHTS = RewardConfig()  # CR 1, CE 0.25, SA 0.5, LS 0.5, experience 0.5, violations 1, format_errors 1, breach 1


def scenario(principal=10_000.0, daily_income=100.0, current_assets=5_000.0) -> Scenario:
    base = make_scenarios(1)[0]
    record = replace(base.record, principal=principal, daily_income=daily_income, current_assets=current_assets)
    return Scenario(base.id, record, base.persona)


def deal_trajectory(
    judge_scores=None, terms=Agreement(0.10, 0.25, 7, 6), disclosure="I was laid off in May."
) -> Trajectory:
    low_upfront = Agreement(0.10, 0.20, 7, 6)
    turns = [
        Turn("collector", "non", "identity verification", "Hello."),
        Turn("debtor", "non", "honest disclosure", disclosure),
        Turn(
            "collector",
            "ask",
            "repayment negotiation",
            "20% up front.",
            proposal=low_upfront,
            violations=("upfront_below_minimum",),
        ),
        Turn("debtor", "non", "vague response", "Maybe."),
        Turn("collector", "ask", "repayment negotiation", "10% off.", proposal=terms),
        Turn("debtor", "accept", "repayment negotiation", "Deal."),
    ]
    return Trajectory(
        scenario(), "expert", "scripted", 0, turns=turns, outcome="deal", agreement=terms, judge_scores=judge_scores
    )


def test_policy_default_ce_is_the_reference():
    assert WEIGHTS.ce_reference == pytest.approx(POLICY_DEFAULT_CE) == pytest.approx(0.25 / 7 + 0.75 / 180)


def test_affordable_deal_with_one_violating_turn():
    reward, parts = score(deal_trajectory(), WEIGHTS)
    # CR = 0.9 (10 % off after a disclosed job loss); CE = 0.9 * CE(default terms) so CE_norm = 0.9; SA: 2250 due
    # <= 0.85 * (5000 + 700); LS: 6750 due <= 0.95 * 100 * 30 * 6; one of three collector turns broke the envelope.
    assert parts["CR"] == pytest.approx(0.9) and parts["CE_norm"] == pytest.approx(0.9)
    assert parts["SA"] == 1.0 and parts["LS"] == 1.0 and parts["experience"] is None
    assert parts["violation_share"] == pytest.approx(1 / 3) and parts["format_error_share"] == 0.0
    assert parts["breaches"] == []
    assert reward == pytest.approx(0.9 + 0.25 * 0.9 + 0.5 + 0.5 - 1 / 3)


def test_deal_outside_the_envelope_is_void_and_costs_the_breach():
    # the same 10 % off, with no hardship disclosed: nothing recovered, the breach weight on top of the penalties
    reward, parts = score(deal_trajectory(disclosure="I will think about it."), WEIGHTS)
    assert parts["breaches"] == ["out_of_envelope"]
    assert (parts["CR"], parts["CE_norm"], parts["SA"], parts["LS"]) == (0.0, 0.0, 0.0, 0.0)
    assert reward == pytest.approx(-1 / 3 - 1.0)


def test_deal_after_a_misstated_debt_is_void():
    t = deal_trajectory()
    t.turns[0] = Turn("collector", "non", "identity verification", "You have 1,7 overdue for 15 days.")
    assert score(t, WEIGHTS)[1]["breaches"] == ["misstated_debt"]
    t.turns[
        0
    ].dialogue = f"You have {t.scenario.record.principal:,.0f} overdue for {t.scenario.record.days_overdue} days."
    assert score(t, WEIGHTS)[1]["breaches"] == []


def no_deal(t: Trajectory) -> Trajectory:
    """The same dialogue, ended without a deal: its last (accepting) turn becomes talk and the call runs out."""
    turns = [*t.turns[:-1], replace(t.turns[-1], action="non")]
    return Trajectory(
        t.scenario, t.collector, t.debtor, t.seed, turns=turns, outcome="max_turns", judge_scores=t.judge_scores
    )


@settings(max_examples=300, deadline=None)
@given(
    cw=st.tuples(*[st.floats(0, 100)] * 7),
    breach=st.floats(1e-6, 100),
    ce_reference=st.floats(1e-3, 1),
    talk_turns=st.integers(0, 8),
    kind=st.sampled_from(["out_of_envelope", "malformed_turn", "misstated_debt"]),
    judged=st.booleans(),
)
def test_breaking_the_rules_never_pays(cw, breach, ce_reference, talk_turns, kind, judged):
    """A void deal is worth less than the same dialogue with no deal, for any length and any accepted weights."""
    w = RewardConfig(*cw, breach=breach, ce_reference=ce_reference)
    disclosure = "I will think about it." if kind == "out_of_envelope" else "I was laid off in May."
    t = deal_trajectory(
        {"respect_empathy": 9, "transparency": 9, "feasibility": 9} if judged else None, disclosure=disclosure
    )
    if kind == "malformed_turn":
        t.turns[2] = Turn("collector", "non", "", "", raw="{oops", format_error="no JSON object found")
    if kind == "misstated_debt":
        t.turns[0] = Turn("collector", "non", "statement of facts", "The overdue amount is 3, overdue for 2 days.")
    padding = [
        Turn("collector" if i % 2 else "debtor", "non", "establish trust", "Let us talk.")
        for i in range(2 * talk_turns)
    ]
    t.turns[1:1] = padding
    deal, parts = score(t, w)
    assert parts["breaches"] == [kind]
    assert deal < score(no_deal(t), w)[0]


def test_weights_the_schema_refuses():
    for name, value, allowed in (("violations", -1.0, ">= 0"), ("breach", 0.0, "> 0"), ("CR", float("nan"), ">= 0")):
        with pytest.raises(ValueError, match=f"reward.{name}=.* allowed values: a finite number {allowed}"):
            score(deal_trajectory(), replace(WEIGHTS, **{name: value}))


def test_judge_scores_add_experience():
    reward, parts = score(deal_trajectory({"respect_empathy": 7, "transparency": 7, "feasibility": 7}), WEIGHTS)
    assert parts["experience"] == pytest.approx(6 / 9)
    assert reward == pytest.approx(0.9 + 0.25 * 0.9 + 0.5 + 0.5 - 1 / 3 + 0.5 * 6 / 9)


def test_unaffordable_deal_loses_rationality():
    t = deal_trajectory()
    t.scenario = scenario(daily_income=10.0, current_assets=0.0)  # 2250 due vs 0.85 * 70; 6750 vs 0.95 * 1800
    reward, parts = score(t, WEIGHTS)
    assert parts["SA"] == 0.0 and parts["LS"] == 0.0
    assert reward == pytest.approx(0.9 + 0.225 - 1 / 3)


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
    assert reward_spread([3, 1, 2, None]) == {
        "n": 3,
        "min": 1.0,
        "q25": 2.0,
        "median": 2.0,
        "q75": 3.0,
        "mean": 2.0,
        "max": 3.0,
    }
    assert reward_spread([])["mean"] is None
