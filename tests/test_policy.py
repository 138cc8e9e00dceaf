from debtgpt.agreement import Agreement
from debtgpt.dialogue import Turn
from debtgpt.policy import (
    DISCOUNT_WITHOUT_HARDSHIP,
    LONG_PLAN_WITHOUT_HARDSHIP,
    PAYMENT_DAYS_WITHOUT_CASH_FLOW,
    UPFRONT_BELOW_MINIMUM,
    Evidence,
    disclosed_evidence,
    envelope_violations,
    evidence_in,
)

NONE, HARDSHIP, CASH_FLOW = Evidence(), Evidence(hardship=True), Evidence(cash_flow=True)


def test_policy_defaults_are_within_the_envelope():
    assert envelope_violations(Agreement(0.0, 0.25, 7, 6), NONE) == ()


def test_discount_needs_hardship_evidence():
    assert envelope_violations(Agreement(0.05, 0.25, 7, 6), NONE) == (DISCOUNT_WITHOUT_HARDSHIP,)
    assert envelope_violations(Agreement(0.30, 0.25, 7, 6), HARDSHIP) == ()


def test_upfront_share_below_a_quarter_always_breaks_policy():
    assert envelope_violations(Agreement(0.0, 0.20, 7, 6), Evidence(True, True)) == (UPFRONT_BELOW_MINIMUM,)


def test_more_than_seven_days_needs_cash_flow_evidence():
    assert envelope_violations(Agreement(0.0, 0.25, 8, 6), NONE) == (PAYMENT_DAYS_WITHOUT_CASH_FLOW,)
    assert envelope_violations(Agreement(0.0, 0.25, 14, 6), CASH_FLOW) == ()


def test_plans_longer_than_six_months_need_hardship_evidence():
    assert envelope_violations(Agreement(0.0, 0.25, 7, 9), NONE) == (LONG_PLAN_WITHOUT_HARDSHIP,)
    assert envelope_violations(Agreement(0.0, 0.25, 7, 24), HARDSHIP) == ()


def test_every_broken_rule_is_reported():
    assert set(envelope_violations(Agreement(0.3, 0.05, 14, 24), NONE)) == {
        DISCOUNT_WITHOUT_HARDSHIP, UPFRONT_BELOW_MINIMUM, PAYMENT_DAYS_WITHOUT_CASH_FLOW, LONG_PLAN_WITHOUT_HARDSHIP}


def test_evidence_is_read_from_what_the_debtor_said_not_from_the_collector():
    assert evidence_in("I was laid off in March") == HARDSHIP
    assert evidence_in("I get paid on the 15th") == CASH_FLOW
    assert evidence_in("I just can't pay") == NONE
    turns = [Turn("collector", "non", "financial assessment", "Were you laid off? When is payday?"),
             Turn("debtor", "non", "honest disclosure", "The hospital bills ate my savings.")]
    assert disclosed_evidence(turns) == HARDSHIP
