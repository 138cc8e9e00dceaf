"""Persona-enriched debtors (DebtBench): Persona = (Background, Personality, Cognition, Scenario).

Background is the debt record; the archetype shapes personality and cognition. Archetype counts follow
the observed shares exactly (largest remainder), so a split stratified by archetype keeps them too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from debtgpt.constants import ARCHETYPE_SHARES, ARCHETYPES, COGNITION_DIMENSIONS, EMOTIONS, RESILIENCE_LEVELS
from debtgpt.records import DebtRecord

# Per archetype: mean emotion levels (0-10), mean cognition (1-5), likely traits and MBTI letters.
_ARCHETYPE_PROFILE = {
    "Confrontational": {
        "emotions": {"happiness": 2, "sadness": 3, "disgust": 6, "fear": 2, "surprise": 4, "anger": 8},
        "cognition": {
            "legal_awareness": 3.5,
            "financial_literacy": 3.0,
            "responsibility": 2.0,
            "credit_awareness": 2.5,
        },
        "resilience": (0.05, 0.15, 0.3, 0.3, 0.2),
        "traits": ("hot-tempered", "suspicious", "proud", "blunt", "stubborn", "argumentative"),
        "mbti": ("ESTJ", "ENTJ", "ESTP", "ISTP", "ENTP"),
        "styles": ("curt and sarcastic", "loud, interrupts often", "blunt, uses short accusations"),
    },
    "Avoidant": {
        "emotions": {"happiness": 3, "sadness": 4, "disgust": 3, "fear": 6, "surprise": 3, "anger": 3},
        "cognition": {
            "legal_awareness": 2.0,
            "financial_literacy": 2.5,
            "responsibility": 2.0,
            "credit_awareness": 2.0,
        },
        "resilience": (0.2, 0.35, 0.3, 0.1, 0.05),
        "traits": ("evasive", "noncommittal", "distracted", "conflict-averse", "procrastinating"),
        "mbti": ("INFP", "ISFP", "INTP", "ESFP"),
        "styles": ("short, vague replies", "changes the subject", "polite but noncommittal"),
    },
    "Helpless": {
        "emotions": {"happiness": 1, "sadness": 8, "disgust": 2, "fear": 7, "surprise": 3, "anger": 2},
        "cognition": {
            "legal_awareness": 1.5,
            "financial_literacy": 1.5,
            "responsibility": 3.5,
            "credit_awareness": 2.0,
        },
        "resilience": (0.35, 0.35, 0.2, 0.08, 0.02),
        "traits": ("anxious", "overwhelmed", "apologetic", "dependent", "sincere"),
        "mbti": ("ISFJ", "INFJ", "ISFP", "ESFJ"),
        "styles": ("long, emotional sentences", "apologises often", "hesitant, trails off"),
    },
    "Cooperative": {
        "emotions": {"happiness": 5, "sadness": 3, "disgust": 1, "fear": 3, "surprise": 2, "anger": 1},
        "cognition": {
            "legal_awareness": 3.5,
            "financial_literacy": 3.5,
            "responsibility": 4.5,
            "credit_awareness": 4.0,
        },
        "resilience": (0.02, 0.08, 0.3, 0.4, 0.2),
        "traits": ("conscientious", "calm", "practical", "honest", "organised"),
        "mbti": ("ISTJ", "ESTJ", "ISFJ", "ENFJ"),
        "styles": ("clear and polite", "matter-of-fact", "friendly, asks practical questions"),
    },
}

_COGNITION_TEXT = {
    "legal_awareness": (
        "You know nothing about debt law.",
        "You have heard of debt law but know few details.",
        "You know the basics of your rights as a debtor.",
        "You know your rights and the collector's limits well.",
        "You know debt law in detail and cite it.",
    ),
    "financial_literacy": (
        "You cannot work out what you can afford.",
        "You struggle with budgets and interest.",
        "You can follow a simple budget.",
        "You plan your money carefully.",
        "You reason about cash flow like an accountant.",
    ),
    "responsibility": (
        "You do not feel this debt is your problem.",
        "You feel little duty to repay.",
        "You feel you should repay when you can.",
        "You want to repay and keep your word.",
        "You feel strongly bound to repay every cent.",
    ),
    "credit_awareness": (
        "You do not know what a credit record is.",
        "You rarely think about your credit record.",
        "You know missed payments hurt your credit.",
        "You care about your credit score.",
        "You guard your credit record closely.",
    ),
}


@dataclass(frozen=True)
class Persona:
    record_id: str
    archetype: str
    traits: tuple[str, ...]
    mbti: str
    emotions: dict  # emotion -> 0..10
    resilience: str
    linguistic_style: str
    cognition: dict  # dimension -> 1..5
    cognition_text: dict = field(default_factory=dict)  # dimension -> second-person description
    scenario: str = ""

    def to_dict(self) -> dict:
        row = asdict(self)
        row["traits"] = list(self.traits)
        return row

    @classmethod
    def from_dict(cls, row: dict) -> "Persona":
        return cls(**{**row, "traits": tuple(row["traits"])})


def archetype_counts(n: int) -> dict[str, int]:
    """Exact counts for n personas by the observed shares (largest remainder)."""
    raw = {a: n * ARCHETYPE_SHARES[a] for a in ARCHETYPES}
    counts = {a: int(raw[a]) for a in ARCHETYPES}
    for a in sorted(ARCHETYPES, key=lambda a: raw[a] - counts[a], reverse=True)[: n - sum(counts.values())]:
        counts[a] += 1
    return counts


def generate_personas(records: list[DebtRecord], seed: int) -> list[Persona]:
    """One persona per record, archetypes in the observed shares; same records and seed, same personas."""
    rng = np.random.default_rng(seed)
    counts = archetype_counts(len(records))
    archetypes = [a for a in ARCHETYPES for _ in range(counts[a])]
    rng.shuffle(archetypes)
    return [_persona(record, archetype, rng) for record, archetype in zip(records, archetypes)]


def _persona(record: DebtRecord, archetype: str, rng: np.random.Generator) -> Persona:
    profile = _ARCHETYPE_PROFILE[archetype]
    emotions = {e: int(np.clip(round(rng.normal(profile["emotions"][e], 1.5)), 0, 10)) for e in EMOTIONS}
    cognition = {d: int(np.clip(round(rng.normal(profile["cognition"][d], 0.8)), 1, 5)) for d in COGNITION_DIMENSIONS}
    traits = tuple(str(t) for t in rng.choice(profile["traits"], size=3, replace=False))
    persona = Persona(
        record_id=record.id,
        archetype=archetype,
        traits=traits,
        mbti=str(rng.choice(profile["mbti"])),
        emotions=emotions,
        resilience=RESILIENCE_LEVELS[int(rng.choice(len(RESILIENCE_LEVELS), p=profile["resilience"]))],
        linguistic_style=str(rng.choice(profile["styles"])),
        cognition=cognition,
        cognition_text={d: _COGNITION_TEXT[d][cognition[d] - 1] for d in COGNITION_DIMENSIONS},
    )
    return Persona(**{**persona.__dict__, "scenario": _scenario_text(record, persona)})


def _scenario_text(record: DebtRecord, persona: Persona) -> str:
    mood = max(persona.emotions, key=persona.emotions.get)
    pronoun = "She" if record.gender == "female" else "He"
    return (
        f"A {record.age}-year-old {record.gender} debtor, {', '.join(persona.traits)}, {record.days_overdue} days "
        f"overdue on {record.principal:,.0f}. {record.overdue_reason} {pronoun} earns about "
        f"{record.daily_income:,.0f} a day, spends {record.monthly_expenses:,.0f} a month and has "
        f"{record.current_assets:,.0f} in savings. {pronoun} feels mostly {mood} about the call and speaks in a "
        f"{persona.linguistic_style} way."
    )
