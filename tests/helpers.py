"""Small builders for hand-made scenarios and trajectories used across tests."""

from __future__ import annotations

from debtgpt.agreement import Agreement
from debtgpt.dialogue import OUTCOME_DEAL, OUTCOME_HANGUP, Scenario, Trajectory, Turn
from debtgpt.personas import Persona
from debtgpt.records import DebtRecord


def make_scenario(
    archetype="Cooperative",
    principal=10000.0,
    daily_income=200.0,
    assets=3000.0,
    expenses=4000.0,
    literacy=3,
    reason="job loss",
    sid="S1",
) -> Scenario:
    record = DebtRecord(
        id=sid,
        age=40,
        gender="female",
        principal=principal,
        days_overdue=60,
        total_loan=40000.0,
        outstanding_balance=30000.0,
        overdue_reason_category=reason,
        overdue_reason="I was laid off in spring.",
        daily_income=daily_income,
        current_assets=assets,
        monthly_expenses=expenses,
    )
    persona = Persona(
        record_id=sid,
        archetype=archetype,
        traits=("calm", "honest", "practical"),
        mbti="ISTJ",
        emotions={"happiness": 5, "sadness": 3, "disgust": 1, "fear": 3, "surprise": 2, "anger": 2},
        resilience="moderate",
        linguistic_style="clear",
        cognition={"legal_awareness": 3, "financial_literacy": literacy, "responsibility": 4, "credit_awareness": 3},
        scenario="A test debtor.",
    )
    return Scenario(id=sid, record=record, persona=persona)


def collector(action="non", proposal=None, violations=(), format_error=None, strategy="establish trust"):
    return Turn(
        "collector",
        action,
        strategy,
        "words",
        proposal=proposal,
        violations=tuple(violations),
        format_error=format_error,
    )


def debtor(action="non", proposal=None, text="hmm", strategy="vague response"):
    return Turn("debtor", action, strategy, text, proposal=proposal)


def deal(scenario, agreement: Agreement, turns) -> Trajectory:
    return Trajectory(
        scenario=scenario,
        collector="test",
        debtor="test",
        seed=0,
        turns=list(turns),
        outcome=OUTCOME_DEAL,
        agreement=agreement,
    )


def no_deal(scenario, turns, outcome=OUTCOME_HANGUP) -> Trajectory:
    return Trajectory(scenario=scenario, collector="test", debtor="test", seed=0, turns=list(turns), outcome=outcome)
