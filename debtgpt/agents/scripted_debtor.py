"""The scripted persona debtor: one behaviour per archetype, driven by emotions, cognition and hidden limits.

The debtor hears only the collector's words and proposals. It reads their tone from the words (empathy,
trust, questions, threats), keeps an inner state (anger, trust, how much it still demands), and accepts a
standing offer only if the offer meets its demand and looks affordable. What looks affordable depends on
financial literacy: a low-literacy debtor overrates its means and can accept what it cannot pay, which is
what the SA and LS metrics catch. Confrontational and Avoidant debtors can hang up.
"""

from __future__ import annotations

from dataclasses import dataclass

from debtgpt import tone
from debtgpt.agents.base import Agent, View
from debtgpt.agreement import Agreement
from debtgpt.constants import AGREEMENT_GRID, DAYS_PER_MONTH
from debtgpt.dialogue import Turn


@dataclass(frozen=True)
class ArchetypeBehaviour:
    """How an archetype negotiates. Demands are discounts; softening is how fast the demand fades per turn."""

    demand: tuple[float, float]  # range of the discount it starts out demanding
    pushbacks: tuple[int, int]  # range of how many offers it resists before it will accept any
    softening: float  # share of the demand dropped per collector turn heard
    disclosure: float  # base chance of disclosing its situation when asked
    trust_needed: float  # trust above which it discloses readily
    threat_anger: float  # anger added by a threat
    threat_softening: float  # demand dropped by a threat (fear)
    hangup_anger: float  # anger at which it hangs up (None-like large value: never)
    hangup_per_turn: float  # base chance of hanging up on any turn without progress
    strategies: dict  # weights of its talk strategies when it neither accepts nor counters
    counter: float  # chance of answering an unacceptable offer with a counter-proposal
    empathy: float  # how much kind words calm it (suspicious debtors discount them)


BEHAVIOURS = {
    "Confrontational": ArchetypeBehaviour(
        demand=(0.15, 0.3),
        pushbacks=(2, 4),
        softening=0.12,
        disclosure=0.25,
        trust_needed=3.0,
        threat_anger=2.0,
        threat_softening=0.0,
        hangup_anger=12.0,
        hangup_per_turn=0.008,
        strategies={"emotional confrontation": 4, "complaint": 3, "shift responsibility": 3, "vague response": 1},
        counter=0.5,
        empathy=0.5,
    ),
    "Avoidant": ArchetypeBehaviour(
        demand=(0.05, 0.2),
        pushbacks=(1, 3),
        softening=0.15,
        disclosure=0.3,
        trust_needed=3.0,
        threat_anger=0.8,
        threat_softening=0.3,
        hangup_anger=12.0,
        hangup_per_turn=0.012,
        strategies={"vague response": 4, "false compliance": 4, "shift responsibility": 1, "dilemma rendering": 1},
        counter=0.3,
        empathy=1.0,
    ),
    "Helpless": ArchetypeBehaviour(
        demand=(0.05, 0.25),
        pushbacks=(1, 2),
        softening=0.18,
        disclosure=0.6,
        trust_needed=1.5,
        threat_anger=0.3,
        threat_softening=0.4,
        hangup_anger=99.0,
        hangup_per_turn=0.0,
        strategies={"dilemma rendering": 5, "honest disclosure": 2, "vague response": 1},
        counter=0.4,
        empathy=1.5,
    ),
    "Cooperative": ArchetypeBehaviour(
        demand=(0.0, 0.05),
        pushbacks=(0, 1),
        softening=0.3,
        disclosure=0.85,
        trust_needed=0.5,
        threat_anger=0.5,
        threat_softening=0.2,
        hangup_anger=99.0,
        hangup_per_turn=0.0,
        strategies={"honest disclosure": 3, "repayment negotiation": 2, "vague response": 1},
        counter=0.6,
        empathy=1.0,
    ),
}
# How much a debtor overrates its means, by financial literacy (1 to 5).
_OPTIMISM = {1: 3.0, 2: 1.8, 3: 1.15, 4: 1.0, 5: 1.0}
_RESILIENCE_PATIENCE = {"very low": -2.0, "low": -1.0, "moderate": 0.0, "high": 1.0, "very high": 2.0}

_SAY = {
    "vague response": (
        "I'm not sure, I'd have to check.",
        "Maybe, let me think about it.",
        "I don't really know what to tell you right now.",
        "Can we talk about this some other time?",
        "Hmm. I'll see what I can do.",
    ),
    "false compliance": (
        "Sure, sure, I'll pay it next week.",
        "Yes, I'll sort it out soon, don't worry.",
        "Okay, I'll transfer something in a few days.",
        "Fine, I'll take care of it, I promise.",
    ),
    "shift responsibility": (
        "This is the bank's fault, nobody explained the fees to me.",
        "Your company never sent me a reminder, so why is this on me?",
        "My ex-partner was supposed to pay this, not me.",
        "The interest you charge is the real problem here.",
    ),
    "dilemma rendering": (
        "If I pay you, I can't pay my rent. What am I supposed to do?",
        "I have to choose between this and feeding my kids.",
        "Every month something else comes up and I just can't keep up.",
        "I want to pay, I really do, but there is nothing left at the end of the month.",
    ),
    "emotional confrontation": (
        "Stop harassing me! I'm sick of these calls!",
        "Who do you think you are, calling me like this?",
        "This is ridiculous. You people are unbelievable!",
        "Don't you dare threaten me!",
    ),
    "complaint": (
        "I'm going to file a complaint about how you treat people.",
        "Your service has been terrible from day one.",
        "I've been on hold with your company for hours before. This is a joke.",
        "You people keep adding charges I never agreed to.",
    ),
    "honest disclosure": (
        "Honestly, {reason}",
        "I'll be straight with you. {reason}",
        "The truth is, {reason}",
    ),
    "repayment negotiation": (
        "I can't do that. Could we do {terms} instead?",
        "What about {terms}? That's what I can manage.",
        "Let's be realistic: {terms}.",
        "I could agree to {terms}.",
    ),
}
_CASH_FLOW_SAY = (
    "I get paid on the {day}th, so I could pay after that.",
    "My salary comes in on the {day}th of the month.",
    "Payday is on the {day}th for me.",
)
_ACCEPT_SAY = (
    "Alright, I can do that. Let's agree on it.",
    "Okay, fine. I accept.",
    "That works for me. Deal.",
    "Fine, let's settle it that way.",
)
_HANGUP_SAY = (
    "I'm done with this. Goodbye.",
    "I don't have time for this. *hangs up*",
    "Leave me alone. *click*",
)


def _on_grid(field: str, value: float, round_up: bool = False):
    grid = AGREEMENT_GRID[field]
    if round_up:
        return next((g for g in grid if g >= value - 1e-9), grid[-1])
    return max((g for g in grid if g <= value + 1e-9), default=grid[0])


@dataclass
class DebtorState:
    """The scripted debtor's inner state in one dialogue, kept in its view's memory under "state"."""

    behaviour: ArchetypeBehaviour
    anger: float
    trust: float
    demand: float  # the discount it holds out for; fades as it listens
    patience: float
    pushbacks_needed: int  # offers it turns down before it will accept
    pushbacks: int
    # Perceived means: what the debtor believes it can pay up front and per month.
    upfront_means: float
    daily_spare: float
    monthly_means: float
    payday: int
    disclosed_reason: bool
    disclosed_payday: bool
    heard: int  # collector turns heard
    threats: int
    asked: bool = False  # the collector's last turn asked about its means


class ScriptedDebtor(Agent):
    """A persona-driven debtor that plays any collector, scripted or LLM."""

    replayable = True

    role = "debtor"

    def __init__(self, name: str = "scripted"):
        self.name = name

    def act(self, views: list[View]) -> list[Turn]:
        return [self._turn(view) for view in views]

    # --- inner state -------------------------------------------------------------------------
    def _init_state(self, view: View) -> DebtorState:
        persona, record, rng = view.persona, view.record, view.rng
        behaviour = BEHAVIOURS[persona.archetype]
        optimism = _OPTIMISM[persona.cognition["financial_literacy"]]
        disposable_daily = record.daily_income - record.monthly_expenses / DAYS_PER_MONTH
        return DebtorState(
            behaviour=behaviour,
            anger=persona.emotions["anger"] + rng.uniform(-1, 1),
            trust=0.0,
            demand=rng.uniform(*behaviour.demand) * (1.3 if persona.emotions["anger"] >= 7 else 1.0),
            patience=_RESILIENCE_PATIENCE[persona.resilience],
            pushbacks_needed=rng.randint(*behaviour.pushbacks),
            pushbacks=0,
            # Perceived means: what the debtor believes it can pay up front and per month.
            upfront_means=optimism * (0.9 * record.current_assets),
            daily_spare=optimism * max(disposable_daily, 0.0) + (optimism - 1.0) * record.daily_income * 0.5,
            monthly_means=optimism * max(disposable_daily * DAYS_PER_MONTH, 0.0)
            + (optimism - 1.0) * record.daily_income * 8,
            payday=rng.choice((1, 5, 10, 15, 20, 25)),
            disclosed_reason=False,
            disclosed_payday=False,
            heard=0,
            threats=0,
        )

    def _listen(self, state: DebtorState, view: View) -> None:
        """Update anger, trust and demand from the collector's latest words and offer."""
        last = view.history[-1] if view.history else None
        if last is None or last.role != "collector":
            return
        behaviour = state.behaviour
        words = last.dialogue.lower()
        state.heard += 1
        state.demand *= 1 - behaviour.softening
        state.anger -= 0.3  # venting cools a little
        if tone.DEBTOR_HEARS_EMPATHY.search(words):
            state.anger -= 1.2 * behaviour.empathy
            state.trust += behaviour.empathy
        if tone.DEBTOR_HEARS_TRUST.search(words):
            state.trust += 0.8
        if tone.DEBTOR_HEARS_THREAT.search(words):
            state.anger += behaviour.threat_anger
            state.trust -= 0.5
            state.demand *= 1 - behaviour.threat_softening
            state.threats += 1
        state.asked = bool(tone.MEANS_QUESTION.search(words))
        previous = [t.proposal for t in view.history[:-1] if t.role == "collector" and t.proposal is not None]
        if last.proposal is not None and previous and last.proposal.concessions_from(previous[-1]):
            state.anger -= 0.5  # a concession calms a little...
            state.pushbacks_needed += 1  # ...and shows there is more to get

    # --- decisions ---------------------------------------------------------------------------
    def affordable(self, state: DebtorState, view: View, offer: Agreement) -> bool:
        """Whether the offer looks payable to this debtor (its own, possibly optimistic, judgement)."""
        debt = view.record.principal * (1 - offer.disc_ratio)
        upfront_means = state.upfront_means + state.daily_spare * offer.pmt_days
        monthly_due = debt * (1 - offer.pmt_ratio) / offer.inst_prds
        return debt * offer.pmt_ratio <= upfront_means and monthly_due <= state.monthly_means

    def acceptable(self, state: DebtorState, view: View, offer: Agreement) -> bool:
        """Debtors haggle: an offer is taken only after enough pushback, if it meets the demand and looks payable."""
        return (
            state.pushbacks >= state.pushbacks_needed
            and offer.disc_ratio + 1e-9 >= state.demand - 0.025
            and self.affordable(state, view, offer)
        )

    def _counter_offer(self, state: DebtorState, view: View, standing: Agreement | None) -> Agreement:
        """The debtor's own terms: its demand, and the mildest payment terms it believes it can meet."""
        disc = _on_grid("disc_ratio", state.demand, round_up=True)
        if standing is not None and standing.disc_ratio > disc:
            disc = standing.disc_ratio
        pmt_days = 14 if state.disclosed_payday or view.rng.random() < 0.5 else 10
        debt = view.record.principal * (1 - disc)
        upfront_means = state.upfront_means + state.daily_spare * pmt_days
        pmt_ratio = _on_grid("pmt_ratio", min(upfront_means / debt, 0.5) if debt else 0.5)
        if standing is not None:
            # Never offer more up front than asked; meet the collector part of the way once the talk drags on.
            pmt_ratio = min(pmt_ratio, standing.pmt_ratio)
            if state.heard > 4:
                pmt_ratio = _on_grid("pmt_ratio", min(standing.pmt_ratio, (pmt_ratio + standing.pmt_ratio) / 2 + 0.05))
        inst_prds = next(
            (m for m in AGREEMENT_GRID["inst_prds"] if debt * (1 - pmt_ratio) / m <= state.monthly_means),
            AGREEMENT_GRID["inst_prds"][-1],
        )
        return Agreement(disc, pmt_ratio, pmt_days, max(inst_prds, 6))

    def _turn(self, view: View) -> Turn:
        if "state" not in view.memory:
            view.memory["state"] = self._init_state(view)
        state, rng = view.memory["state"], view.rng
        behaviour = state.behaviour
        self._listen(state, view)
        standing = view.standing_proposal("collector")

        if state.anger >= behaviour.hangup_anger + state.patience or (
            # Pressure and anger make a debtor more likely to end the call.
            state.heard > 2
            and rng.random() < behaviour.hangup_per_turn * (1 + state.threats) * (1 + max(state.anger - 5, 0) / 3)
        ):
            return Turn(
                "debtor",
                "hangup",
                "emotional confrontation" if state.anger > 6 else "vague response",
                rng.choice(_HANGUP_SAY),
                thoughts="I want this call to end.",
            )
        if standing is not None:
            if self.acceptable(state, view, standing):
                return Turn(
                    "debtor",
                    "accept",
                    "repayment negotiation",
                    rng.choice(_ACCEPT_SAY),
                    thoughts=f"{standing.describe()} is something I can live with.",
                )
            state.pushbacks += 1
            if state.pushbacks > state.pushbacks_needed:
                state.demand *= 0.75  # worn down by a long haggle

        if state.asked or standing is not None:
            chance = (
                behaviour.disclosure
                + (0.25 if state.trust >= behaviour.trust_needed else 0.0)
                - 0.04 * max(state.anger - 5, 0)
            )
            if not state.disclosed_reason and rng.random() < chance:
                state.disclosed_reason = True
                return Turn(
                    "debtor", "non", "honest disclosure", self._disclosure(view), thoughts="Maybe the truth helps."
                )
            if state.disclosed_reason and not state.disclosed_payday and rng.random() < chance / 2:
                state.disclosed_payday = True
                text = rng.choice(_CASH_FLOW_SAY).format(day=state.payday)
                return Turn("debtor", "non", "honest disclosure", text, thoughts="They should know when I have money.")
        if standing is not None and rng.random() < behaviour.counter:
            counter = self._counter_offer(state, view, standing)
            if counter != standing:
                text = rng.choice(_SAY["repayment negotiation"]).format(terms=counter.describe())
                return Turn(
                    "debtor",
                    "ask",
                    "repayment negotiation",
                    text,
                    proposal=counter,
                    thoughts="I need better terms than that.",
                )
        strategies = list(behaviour.strategies)
        strategy = rng.choices(strategies, weights=[behaviour.strategies[s] for s in strategies])[0]
        if strategy == "honest disclosure":
            state.disclosed_reason = True
            return Turn("debtor", "non", strategy, self._disclosure(view), thoughts="I should explain.")
        if strategy == "repayment negotiation":
            counter = self._counter_offer(state, view, standing)
            text = rng.choice(_SAY[strategy]).format(terms=counter.describe())
            return Turn("debtor", "ask", strategy, text, proposal=counter, thoughts="Let me name what I can pay.")
        return Turn("debtor", "non", strategy, rng.choice(_SAY[strategy]), thoughts=f"I feel {self._mood(state)}.")

    def _disclosure(self, view: View) -> str:
        return view.rng.choice(_SAY["honest disclosure"]).format(reason=view.record.overdue_reason)

    @staticmethod
    def _mood(state: DebtorState) -> str:
        return "furious" if state.anger > 7 else "annoyed" if state.anger > 4 else "uneasy"
