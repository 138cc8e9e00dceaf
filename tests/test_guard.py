"""The envelope guard: any collector behind it never proposes or accepts terms outside the envelope."""

from __future__ import annotations

from debtgpt.agents.base import Agent
from debtgpt.agents.factory import AgentFactory, check_agents
from debtgpt.agents.guard import SAFE_TERMS, EnvelopeGuard
from debtgpt.agents.scripted import ScriptedDebtor
from debtgpt.agreement import Agreement
from debtgpt.dialogue import Turn
from debtgpt.metrics import evaluate
from debtgpt.runner import DialogueJob, run_dialogues


class Reckless(Agent):
    """Offers 30 % off on every turn and accepts whatever the debtor proposes."""

    role, name = "collector", "reckless"

    def act(self, views):
        return [
            Turn("collector", "accept", "repayment negotiation", "Deal.")
            if v.standing_proposal("debtor")
            else Turn("collector", "ask", "repayment negotiation", "30 % off.", proposal=Agreement(0.30, 0.05, 14, 24))
            for v in views
        ]


def test_guard_keeps_every_turn_inside_the_envelope(scenarios):
    jobs = [DialogueJob(s) for s in scenarios]
    bare = run_dialogues(jobs, Reckless(), ScriptedDebtor(), seed=0, max_turns=12)
    guarded = run_dialogues(jobs, EnvelopeGuard(Reckless()), ScriptedDebtor(), seed=0, max_turns=12)
    assert evaluate(bare)["overall"]["violations"] > 0.5
    overall = evaluate(guarded)["overall"]
    assert overall["violations"] == 0.0 and overall["out_of_envelope_deals"] in (0.0, None)
    replaced = [t for d in guarded for t in d.collector_turns() if "rejected_draft" in t.info]
    assert replaced and all(t.proposal == SAFE_TERMS for t in replaced)
    assert guarded[0].collector == "reckless+guard"


def test_factory_builds_a_guarded_collector_by_name():
    check_agents(["expert+guard", "firm"], ["scripted"], ["none"])
    collector = AgentFactory().collector("expert+guard")
    assert isinstance(collector, EnvelopeGuard) and collector.name == "expert+guard" and collector.replayable
