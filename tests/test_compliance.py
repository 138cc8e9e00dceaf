"""Compliance as an officer reads it: deals against the envelope, evidence notes against what the debtor said,
and the debt facts a collector states against the record (slots the runner fills in)."""

from __future__ import annotations

from debtgpt.agents.prompting import collector_messages
from debtgpt.agents.scripted import ExpertCollector, ScriptedDebtor
from debtgpt.agreement import Agreement
from debtgpt.dialogue import Trajectory, Turn
from debtgpt.facts import fill_debt_facts, misstated_debt_facts, slot_debt_facts, stated_debt_facts
from debtgpt.metrics import evaluate, turn_compliance
from debtgpt.policy import Evidence
from debtgpt.runner import DialogueJob, run_dialogues

from conftest import make_scenarios

RECORD = {"principal": 18832.4, "days_overdue": 24}


def test_slots_are_filled_from_the_record_and_written_back():
    said = fill_debt_facts("You have {principal} overdue for {days_overdue} days.", RECORD)
    assert said == "You have 18,832 overdue for 24 days."
    assert slot_debt_facts(said, RECORD) == "You have {principal} overdue for {days_overdue} days."
    # a term is not the debt: "25 % within 24 days" keeps its figures
    assert slot_debt_facts("Pay 25 % within 24 days.", RECORD) == "Pay 25 % within 24 days."


def test_statements_that_contradict_the_record_are_found():
    assert misstated_debt_facts("a loan with 1,7 overdue for 15 days", RECORD) == [
        "principal: 1,7",
        "days_overdue: 15",
    ]
    assert misstated_debt_facts("Your payment of 18,832 is 24 days overdue.", RECORD) == []
    assert [f for f, _, _ in stated_debt_facts("The overdue amount is 18,832.40.", RECORD)] == ["principal"]
    assert stated_debt_facts("I can offer a payment of 25 % within 7 days.", RECORD) == []
    # the amount written where the days belong, as a learned collector wrote it
    assert misstated_debt_facts("It has been outstanding for 6,873 days.", RECORD) == ["days_overdue: 6,873"]
    assert misstated_debt_facts("That is 1,024 days overdue.", RECORD) == ["days_overdue: 1,024"]


def test_a_student_writing_slots_states_the_debt_truly():
    scenario = make_scenarios(1)[0]

    class SlotWriter(ExpertCollector):
        name = "slots"

        def act(self, views):
            return [
                Turn(
                    "collector",
                    "non",
                    "statement of facts",
                    "You owe {principal}, overdue for {days_overdue} days.",
                    thoughts="Evidence: none.",
                )
                for _ in views
            ]

    t = run_dialogues([DialogueJob(scenario)], SlotWriter(), ScriptedDebtor(), seed=0, max_turns=4)[0]
    record = scenario.record
    assert t.turns[0].dialogue == f"You owe {record.principal:,.0f}, overdue for {record.days_overdue} days."
    assert evaluate([t])["overall"]["debt_facts_true"] == 1.0


def test_expert_sft_targets_hold_slots_not_digits():
    from data_gen.pair_sets.common import conversation

    t = run_dialogues(
        [DialogueJob(s) for s in make_scenarios(3)], ExpertCollector(), ScriptedDebtor(), seed=0, max_turns=8
    )[0]
    greeting = conversation(t, 8)[2]
    assert (
        greeting["role"] == "assistant"
        and "{principal}" in greeting["content"]
        and "{days_overdue}" in greeting["content"]
    )
    assert f"{t.scenario.record.principal:,.0f}" not in greeting["content"]


def test_compliance_metrics_of_a_dialogue():
    scenario = make_scenarios(1)[0]
    discount = Agreement(0.10, 0.25, 7, 6)
    turns = [
        Turn("collector", "non", "statement of facts", "You have 3 overdue for 2 days.", thoughts="Evidence: none."),
        Turn("debtor", "ask", "repayment negotiation", "10 % off and I pay.", proposal=discount),
        Turn("collector", "accept", "repayment negotiation", "Deal.", thoughts="Evidence: hardship. Fine."),
    ]
    t = Trajectory(scenario, "x", "scripted", 0, turns=turns, outcome="deal", agreement=discount)
    checked = turn_compliance(t)
    assert checked[1] is None and checked[0]["note_faithful"] is True
    assert checked[2]["note_faithful"] is False and checked[2]["claimed"] == Evidence(hardship=True)
    assert [field for field, _, _ in checked[0]["misstated"]] == ["principal", "days_overdue"]
    overall = evaluate([t])["overall"]
    assert overall["out_of_envelope_deals"] == 1.0 and overall["evidence_faithfulness"] == 0.5
    assert overall["debt_facts_true"] == 0.0 and overall["void_deals"] == 1.0
    assert evaluate([t])["by_archetype"][scenario.archetype]["out_of_envelope_deals"] == 1.0


def test_system_prompt_names_the_slots():
    import random

    from debtgpt.agents.base import View

    view = View("k", "collector", make_scenarios(1)[0].record.public(), [], random.Random(0), 20)
    assert "{principal}" in collector_messages(view)[0]["content"]


def test_the_transcript_flags_a_misstated_debt_and_an_untrue_note(tmp_path):
    from fastapi.testclient import TestClient

    from debtgpt.reward import score_all
    from eval.report import write_report
    from pipeline.config import RewardConfig
    from viewer.app import create_app

    scenario = make_scenarios(1)[0]
    turns = [
        Turn(
            "collector",
            "non",
            "statement of facts",
            "You have 1,7 overdue for 15 days.",
            thoughts="Evidence: hardship.",
        ),
        Turn("debtor", "hangup", "complaint", "Wrong. Goodbye."),
    ]
    t = Trajectory(scenario, "x", "scripted", 0, turns=turns, outcome="hangup")
    score_all([t], RewardConfig())
    write_report(
        tmp_path / "reports" / "r", {"collectors": {"x": evaluate([t])}, "config": {}}, {"x": [t]}, plots=False
    )
    page = TestClient(create_app(tmp_path / "reports", None)).get(f"/runs/r/dialogues/x/{scenario.id}/0")
    assert page.status_code == 200, page.text[:300]
    assert f"says 1,7 for the overdue amount; the record has {scenario.record.principal:,.0f}" in page.text
    assert f"says 15 for the days overdue; the record has {scenario.record.days_overdue}" in page.text
    assert "evidence note not true: it claims hardship; the debtor had disclosed none" in page.text
