"""Metrics pinned against values worked out by hand (docs/design.md section 2)."""

import pytest

from debtgpt.agreement import Agreement
from debtgpt.constants import ARCHETYPES
from debtgpt.metrics import METRIC_NAMES, aggregate, evaluate

from helpers import collector, deal, debtor, make_scenario, no_deal

A_TERMS = Agreement(0.10, 0.25, 7, 6)
B_TERMS = Agreement(0.0, 0.50, 3, 3)


def trajectories():
    rich = make_scenario("Cooperative", principal=10000, daily_income=200, assets=3000, sid="A")
    poor = make_scenario("Helpless", principal=20000, daily_income=50, assets=0, sid="B")
    angry = make_scenario("Confrontational", sid="C")
    a = deal(
        rich,
        A_TERMS,
        [
            collector("ask", Agreement(0.0, 0.25, 7, 6)),
            debtor(),
            collector("ask", A_TERMS, violations=["discount_without_hardship"]),
            debtor("accept"),
        ],
    )
    b = deal(poor, B_TERMS, [collector("ask", B_TERMS), debtor("accept")])
    c = no_deal(
        angry,
        [
            collector(format_error="no JSON object found"),
            debtor(),
            collector("ask", Agreement(0.2, 0.25, 7, 6), violations=["discount_without_hardship"]),
            debtor("hangup"),
        ],
    )
    return a, b, c


def test_overall_metrics_match_hand_computation():
    m = aggregate(trajectories())
    ce_a = 0.9 * (0.25 / 7 + 0.75 / (6 * 30))  # 0.0358928...
    ce_b = 1.0 * (0.5 / 3 + 0.5 / (3 * 30))  # 0.1722222...
    assert m["SR"] == pytest.approx(2 / 3)
    assert m["AT"] == pytest.approx(10 / 3)
    assert m["CR"] == pytest.approx((0.9 + 1.0 + 0.0) / 3)
    assert m["CE"] == pytest.approx((ce_a + ce_b) / 2)
    # A: 0.85*(3000+200*7)/(10000*0.9*0.25) = 1.66 >= 1; B: 0.85*(0+50*3)/(20000*0.5) = 0.013 < 1
    assert m["SA"] == pytest.approx(0.5)
    # A: 0.95*200*30*6/(10000*0.9*0.75) = 5.07 >= 1; B: 0.95*50*30*3/(20000*0.5) = 0.43 < 1
    assert m["LS"] == pytest.approx(0.5)
    assert m["CRI"] == pytest.approx(m["CR"])
    assert m["DHI"] == pytest.approx(0.5)
    assert m["CCI"] == pytest.approx(2 * (1.9 / 3) * 0.5 / (1.9 / 3 + 0.5))
    assert m["violations"] == pytest.approx(2 / 5)
    assert m["format_errors"] == pytest.approx(1 / 5)
    assert m["concessions"] == pytest.approx(1 / 3)
    assert m["first_offer_discount"] == pytest.approx(0.2 / 3)
    assert m["hangups"] == pytest.approx(1 / 3)
    assert m["respect_empathy"] is None  # no judge ran


def test_per_archetype_groups_and_na_for_empty_groups():
    result = evaluate(trajectories())
    assert result["n"] == 3
    by = result["by_archetype"]
    assert set(by) == set(ARCHETYPES)
    assert by["Cooperative"]["SR"] == 1.0 and by["Cooperative"]["CR"] == pytest.approx(0.9)
    assert by["Helpless"]["SA"] == 0.0 and by["Helpless"]["LS"] == 0.0 and by["Helpless"]["CCI"] == 0.0
    assert by["Confrontational"]["SR"] == 0.0 and by["Confrontational"]["CR"] == 0.0
    # No success: efficiency and rationality are undefined, not zero.
    assert (
        by["Confrontational"]["CE"] is None
        and by["Confrontational"]["SA"] is None
        and by["Confrontational"]["CCI"] is None
    )
    assert all(by["Avoidant"][name] is None for name in METRIC_NAMES)
    assert result["n_by_archetype"] == {"Confrontational": 1, "Avoidant": 0, "Helpless": 1, "Cooperative": 1}


@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_each_archetype_success_and_failure(archetype):
    s = make_scenario(archetype, principal=1000, daily_income=100, assets=1000)
    ok = deal(s, Agreement(0.0, 0.25, 7, 6), [collector("ask", Agreement(0.0, 0.25, 7, 6)), debtor("accept")])
    failed = no_deal(s, [collector(), debtor("hangup")])
    by = evaluate([ok, failed])["by_archetype"][archetype]
    assert by["SR"] == 0.5 and by["CR"] == 0.5 and by["AT"] == 2.0 and by["SA"] == 1.0 and by["LS"] == 1.0
    assert by["CE"] == pytest.approx(0.25 / 7 + 0.75 / 180)


def test_judge_scores_are_averaged_where_present():
    a, b, c = trajectories()
    a.judge_scores = {"respect_empathy": 8, "transparency": 6, "feasibility": 4}
    b.judge_scores = {"respect_empathy": 6, "transparency": 6, "feasibility": 6}
    m = aggregate([a, b, c])
    assert (m["respect_empathy"], m["transparency"], m["feasibility"]) == (7.0, 6.0, 5.0)


def test_unfinished_trajectories_are_refused():
    a, _, _ = trajectories()
    a.outcome = None
    with pytest.raises(ValueError, match="finished"):
        aggregate([a])


def test_no_trajectories_gives_na_everywhere():
    assert all(v is None for v in aggregate([]).values())
