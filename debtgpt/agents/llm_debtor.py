"""An LLM debtor simulator conditioned on the persona: private finances, archetype, emotions, cognition, story.

LLM debtors tend to act rational and financially literate; a persona with financial literacy of 2 or less
is told explicitly not to, so that it can accept deals it cannot keep, as real debtors do (SA and LS
measure exactly that).
"""

from __future__ import annotations

from debtgpt.agents.base import View
from debtgpt.agents.prompting import PromptedAgent, grid_lines, history_messages
from debtgpt.backends.base import Backend, Sampling
from debtgpt.constants import DEBTOR_STRATEGIES
from debtgpt.personas import Persona
from debtgpt.prompts import render
from debtgpt.records import DebtRecord

LOW_LITERACY_MAX = 2  # financial_literacy at or below this is told not to reason like an accountant
ARCHETYPE_GUIDANCE = {
    "Confrontational": "You push back hard, question the collector's motives and demands, "
    "and may complain or threaten to hang up.",
    "Avoidant": "You dodge commitments, give vague answers and try to end the call or postpone.",
    "Helpless": "You feel overwhelmed, say you cannot cope, and lean on the collector to tell you what to do.",
    "Cooperative": "You want to settle and engage constructively, while protecting what you truly need to live on.",
}


def debtor_system_prompt(persona: Persona, record: DebtRecord) -> str:
    return render(
        "debtor_system.j2",
        scenario=persona.scenario,
        age=record.age,
        gender=record.gender,
        traits=", ".join(persona.traits),
        mbti=persona.mbti,
        resilience=persona.resilience,
        linguistic_style=persona.linguistic_style,
        emotions=", ".join(f"{k} {v}" for k, v in persona.emotions.items()),
        archetype=persona.archetype,
        archetype_guidance=ARCHETYPE_GUIDANCE.get(persona.archetype, ""),
        principal=f"{record.principal:,.2f}",
        days_overdue=record.days_overdue,
        overdue_reason=record.overdue_reason,
        daily_income=f"{record.daily_income:,.2f}",
        monthly_expenses=f"{record.monthly_expenses:,.2f}",
        current_assets=f"{record.current_assets:,.2f}",
        cognition=[persona.cognition_text.get(d, f"{d}: {v} of 5") for d, v in persona.cognition.items()],
        low_literacy=persona.cognition.get("financial_literacy", 5) <= LOW_LITERACY_MAX,
        grid="; ".join(f"{field}: {values}" for field, values in grid_lines()),
        strategies=DEBTOR_STRATEGIES,
    )


def debtor_messages(view: View) -> list[dict]:
    """The debtor's chat for its next turn: persona as system prompt, the collector's words as user turns."""
    if view.persona is None or view.record is None:
        raise ValueError(f"debtor view {view.key!r} needs persona and record; the runner sets both on the debtor side")
    return [
        {"role": "system", "content": debtor_system_prompt(view.persona, view.record)},
        *history_messages(view.history, "debtor"),
    ]


class LLMDebtor(PromptedAgent):
    """A persona-conditioned LLM debtor."""

    role = "debtor"
    default_temperature = 0.9  # debtors vary more than collectors

    def __init__(
        self, backend: Backend, *, name: str = "llm_debtor", sampling: Sampling | None = None, guided_json: bool = True
    ) -> None:
        super().__init__(backend, name=name, sampling=sampling, guided_json=guided_json)

    def messages(self, view: View) -> list[dict]:
        return debtor_messages(view)
