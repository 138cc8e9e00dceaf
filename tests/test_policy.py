import pytest

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


def test_the_evidence_note_names_what_was_disclosed():
    assert [e.note() for e in (NONE, HARDSHIP, CASH_FLOW, Evidence(True, True))] == [
        "Evidence: none.",
        "Evidence: hardship.",
        "Evidence: cash flow.",
        "Evidence: hardship and cash flow.",
    ]


def test_every_broken_rule_is_reported():
    assert set(envelope_violations(Agreement(0.3, 0.05, 14, 24), NONE)) == {
        DISCOUNT_WITHOUT_HARDSHIP,
        UPFRONT_BELOW_MINIMUM,
        PAYMENT_DAYS_WITHOUT_CASH_FLOW,
        LONG_PLAN_WITHOUT_HARDSHIP,
    }


def test_evidence_is_read_from_what_the_debtor_said_not_from_the_collector():
    assert evidence_in("I was laid off in March") == HARDSHIP
    assert evidence_in("I get paid on the 15th") == CASH_FLOW
    assert evidence_in("I just can't pay") == NONE
    turns = [
        Turn("collector", "non", "financial assessment", "Were you laid off? When is payday?"),
        Turn("debtor", "non", "honest disclosure", "The hospital bills ate my savings."),
    ]
    assert disclosed_evidence(turns) == HARDSHIP


# (debtor utterance, hardship, cash flow): true cues of each kind, look-alike words, idioms and negations.
EVIDENCE_TABLE = [
    # hardship, asserted
    ("I was laid off in March", True, False),
    ("I lost my job last spring.", True, False),
    ("My husband lost his job and we live on my wages.", True, False),
    ("I got fired two months ago", True, False),
    ("I was made redundant in January.", True, False),
    ("I've been unemployed since the factory shut.", True, False),
    ("I'm out of work at the moment.", True, False),
    ("I have no income right now.", True, False),
    ("I can't find work anywhere.", True, False),
    ("My mother was in hospital for weeks.", True, False),
    ("I was hospitalised in May.", True, False),
    ("The hospital bills ate my savings.", True, False),
    ("The medical bills took everything.", True, False),
    ("I've been seriously ill since winter.", True, False),
    ("My son got sick and I had to stay home.", True, False),
    ("I'm on sick leave.", True, False),
    ("She has cancer and needs chemo.", True, False),
    ("After the surgery I couldn't work.", True, False),
    ("He's in treatment for his heart.", True, False),
    ("My small shop closed down.", True, False),
    ("My business failed last year.", True, False),
    ("The company went bankrupt and never paid us.", True, False),
    ("A family emergency back home needed money.", True, False),
    ("I had to pay for my father's funeral.", True, False),
    ("My wife passed away in the autumn.", True, False),
    ("My employer cut my hours.", True, False),
    ("My pay was cut by half.", True, False),
    ("I can't pay because I was laid off.", True, False),
    ("I couldn't keep up, I lost my job.", True, False),
    ("I didn't expect to get laid off.", True, False),
    ("I ＬＯＳＴ ＭＹ ＪＯＢ", True, False),  # full-width letters fold to plain ones
    # hardship look-alikes, idioms and complaints
    ("Stop harassing me! I'm sick of these calls!", False, False),
    ("I'm sick and tired of you people.", False, False),
    ("I work in hospitality.", False, False),
    ("The hospitality industry is busy this time of year.", False, False),
    ("I'm not sick, I just don't want to pay.", False, False),
    ("The treatment I get from your company is a disgrace.", False, False),
    ("There are no jobs in this town, but I have one.", False, False),
    ("I just can't pay.", False, False),
    ("Things are hard right now.", False, False),
    ("My phone died yesterday.", False, False),
    ("I'm a medical student.", False, False),
    ("It is illegal to call this often.", False, False),
    ("I was never laid off.", False, False),
    ("I haven't lost my job.", False, False),
    ("I was not in hospital.", False, False),
    ("No medical bills, nothing like that.", False, False),
    ("I'm not unemployed.", False, False),
    ("My shop didn't go bankrupt.", False, False),
    ("I’m not sick.", False, False),  # a curly apostrophe
    # cash flow, asserted
    ("I get paid on the 15th.", False, True),
    ("Payday is on the 25th for me.", False, True),
    ("My salary comes in on the 5th of the month.", False, True),
    ("I can pay on payday.", False, True),
    ("My next paycheck is on Friday.", False, True),
    ("My pension arrives on the first.", False, True),
    ("A customer owes me and the invoice is due on the 10th.", False, True),
    ("My wages come every other Friday.", False, True),
    ("I'm paid every two weeks, next on the 12th.", False, True),
    # cash-flow look-alikes and negations
    ("I already paid on the 3rd.", False, False),
    ("I took out a payday loan to cover rent.", False, False),
    ("Those payday loans ruined me.", False, False),
    ("I don't get paid on a fixed day.", False, False),
    ("I was paid on time by nobody.", False, False),
    ("I'll pay soon, I promise.", False, False),
    # both
    ("I was laid off, but my pension arrives on the 1st.", True, True),
    ("I'm in treatment for cancer and my benefits come on the 20th.", True, True),
]


def test_the_evidence_table_has_enough_phrases_of_each_kind():
    assert len(EVIDENCE_TABLE) >= 60
    assert sum(h for _, h, _ in EVIDENCE_TABLE) >= 20 and sum(c for _, _, c in EVIDENCE_TABLE) >= 8
    assert sum(not h and not c for _, h, c in EVIDENCE_TABLE) >= 25


@pytest.mark.parametrize(("text", "hardship", "cash_flow"), EVIDENCE_TABLE)
def test_evidence_needs_a_whole_unnegated_cue(text, hardship, cash_flow):
    assert evidence_in(text) == Evidence(hardship=hardship, cash_flow=cash_flow)


def test_evidence_detection_is_fast_on_a_very_long_turn():
    import time

    text = "I'm not sick, not laid off, just tired of you. " * 20_000  # about 1 MB
    started = time.perf_counter()
    assert evidence_in(text) == NONE
    assert time.perf_counter() - started < 5
