"""Scripted collectors, the baselines of DebtBench (ours): `firm`, `conceder` and `expert`.

- firm: opens with the policy defaults and concedes only on evidence, a fixed step each time.
- conceder: the over-conceding behaviour the papers report: gives ground every turn, evidence or not.
- expert: stochastic and always inside the envelope; builds trust, asks about the debtor's situation,
  calms anger, and concedes in small steps when evidence allows. It is the offline teacher; each of its
  thoughts opens with the evidence disclosed so far (`Evidence.note`).
They hear only the debtor's words and proposals (their View), like an LLM collector.
The scripted persona debtor lives in scripted_debtor.py and is re-exported here.
"""

from __future__ import annotations

from dataclasses import replace

from debtgpt import tone
from debtgpt.agents.base import Agent, View
from debtgpt.agents.scripted_debtor import ScriptedDebtor  # noqa: F401  (one import for all scripted agents)
from debtgpt.agreement import Agreement
from debtgpt.constants import (
    AGREEMENT_GRID,
    POLICY_DEFAULT_TERMS,
    POLICY_PREFERRED_INST_PRDS,
)
from debtgpt.dialogue import Turn
from debtgpt.policy import (
    DISCOUNT_WITHOUT_HARDSHIP,
    LONG_PLAN_WITHOUT_HARDSHIP,
    PAYMENT_DAYS_WITHOUT_CASH_FLOW,
    Evidence,
    envelope_violations,
)

SAY = {
    "identity verification": (
        "Hello, this is the collections team calling about your loan. Am I speaking with the account holder? "
        "Your payment of {principal} is {days} days overdue.",
        "Good day. I'm calling about a loan in your name with {principal} overdue for {days} days. "
        "Could you confirm your date of birth for me?",
    ),
    "establish trust": (
        "I'm here to help you find a way to settle this that works for you.",
        "My goal today is to work this out together, not to make things harder for you.",
        "I'm on your side here; let's find a plan you can actually keep.",
    ),
    "financial assessment": (
        "Could you tell me a little about your situation, what happened and what your income looks like?",
        "To find a plan you can afford, may I ask about your income and monthly expenses?",
        "What happened that made the payments stop? And when do you usually get paid?",
    ),
    "emotional appeasement": (
        "I understand this is stressful, and I'm sorry it has come to this.",
        "I hear you, and I appreciate you staying on the line with me.",
        "That must be hard. Take your time; we can go through it calmly.",
    ),
    "statement of facts": (
        "The overdue amount is {principal}, and it has been outstanding for {days} days.",
        "For the record, {principal} is overdue and interest keeps adding up every month.",
    ),
    "constructive challenge": (
        "If we leave this open, the amount only grows. A plan now protects you.",
        "Waiting makes it harder, not easier. Let's settle on something today.",
    ),
    "ethical appeal": (
        "You borrowed this in good faith, and settling it keeps your word.",
        "Paying what you can is the fair thing to do, and it closes this chapter.",
    ),
    "legal deterrent": (
        "If we cannot agree, the account may go to our legal department, which affects your credit record.",
        "I have to tell you that unpaid debts can lead to court action and a mark on your credit report.",
    ),
    "repayment negotiation": (
        "Here is what I can offer: {terms}.",
        "Let's settle it like this: {terms}.",
        "I can propose {terms}. Does that work for you?",
    ),
}
_ACCEPT_SAY = (
    "Agreed. I'll put that in writing for you now.",
    "That works for us. Thank you, I'll confirm the plan.",
    "Deal. I'll send you the details today.",
)
DEFAULT_TERMS = Agreement(**POLICY_DEFAULT_TERMS)
# The expert draws one of these per call: how far it will go, at most, for a debtor in real trouble.
MAX_DISCOUNTS = (0.15, 0.20, 0.25, 0.30)


def _say(view: View, strategy: str, **slots) -> str:
    record = view.public_record
    text = view.rng.choice(SAY[strategy])
    return text.format(principal=f"{record['principal']:,.0f}", days=record["days_overdue"], **slots)


def _ask(view: View, terms: Agreement, lead: str | None = None, thoughts: str = "") -> Turn:
    text = _say(view, "repayment negotiation", terms=terms.describe())
    if lead:
        text = f"{_say(view, lead)} {text}"
    return Turn("collector", "ask", "repayment negotiation", text, thoughts=thoughts, proposal=terms)


def _accept(view: View, thoughts: str) -> Turn:
    return Turn("collector", "accept", "repayment negotiation", view.rng.choice(_ACCEPT_SAY), thoughts=thoughts)


def _step(field: str, value, steps: int = 1):
    """Move a field `steps` grid positions (positive = towards the debtor)."""
    grid = AGREEMENT_GRID[field]
    index = grid.index(value)
    toward_debtor = -1 if field == "pmt_ratio" else 1
    return grid[min(max(index + steps * toward_debtor, 0), len(grid) - 1)]


def _with(terms: Agreement, **changes) -> Agreement:
    return Agreement(**{**terms.to_dict(), **changes})


class FirmCollector(Agent):
    """Policy defaults; one fixed concession per kind of evidence; firm words when the debtor resists."""

    replayable = True

    role, name = "collector", "firm"

    def act(self, views: list[View]) -> list[Turn]:
        return [self._turn(view) for view in views]

    def _turn(self, view: View) -> Turn:
        if view.turn_index == 0:
            return Turn("collector", "non", "identity verification", _say(view, "identity verification"))
        terms = view.own_last_proposal() or DEFAULT_TERMS
        if view.evidence.hardship and terms.disc_ratio == 0:
            terms = _with(terms, disc_ratio=0.10, inst_prds=12)
        if view.evidence.cash_flow and terms.pmt_days < 14:
            terms = _with(terms, pmt_days=14)
        counter = view.standing_proposal("debtor")
        if (
            counter is not None
            and not envelope_violations(counter, view.evidence)
            and counter.disc_ratio <= terms.disc_ratio
        ):
            return _accept(view, "Their terms are within policy.")
        if view.own_last_proposal() is None or terms != view.own_last_proposal():
            return _ask(view, terms, "statement of facts" if terms == DEFAULT_TERMS else None)
        strategy = view.rng.choices(
            ("statement of facts", "legal deterrent", "repayment negotiation"), weights=(2, 1, 2)
        )[0]
        if strategy == "repayment negotiation":
            return _ask(view, terms, thoughts="Restate the offer.")
        return Turn("collector", "non", strategy, _say(view, strategy), thoughts="Hold the line.")


class ConcederCollector(Agent):
    """Gives ground on every field each turn and accepts any counter-offer: the over-conceding LLM."""

    replayable = True

    role, name = "collector", "conceder"

    def act(self, views: list[View]) -> list[Turn]:
        return [self._turn(view) for view in views]

    def _turn(self, view: View) -> Turn:
        if view.turn_index == 0:
            return Turn("collector", "non", "establish trust", _say(view, "establish trust"))
        if view.standing_proposal("debtor") is not None:
            return _accept(view, "Anything to close the deal.")
        last = view.own_last_proposal()
        if last is None:
            terms = Agreement(0.25, 0.20, 10, 12)
        else:
            steps = 2 if view.rng.random() < 0.5 else 1
            terms = Agreement(
                _step("disc_ratio", last.disc_ratio, steps),
                _step("pmt_ratio", last.pmt_ratio),
                _step("pmt_days", last.pmt_days, 2),
                _step("inst_prds", last.inst_prds),
            )
        return _ask(view, terms, "emotional appeasement", thoughts="Make it easier so they say yes.")


ACCEPT_THOUGHT = "Their proposal is inside the envelope."


def acceptable_counter(view: View) -> Agreement | None:
    """The debtor's standing counter-offer if the expert accepts it: inside the envelope, and at most 5 points
    more discount than the collector's own last offer (further than that is haggling worth answering)."""
    counter, last = view.standing_proposal("debtor"), view.own_last_proposal()
    if counter is None or envelope_violations(counter, view.evidence):
        return None
    return counter if last is None or counter.disc_ratio <= last.disc_ratio + 0.05 else None


def expert_acceptance(view: View) -> Turn:
    """The expert's acceptance turn at `view`, its thought opening with the evidence note as in `act`."""
    return ExpertCollector._noted(view, _accept(view, ACCEPT_THOUGHT))


def expert_turn(view: View) -> Turn:
    """What the expert says at `view` of a call another collector played so far (the view is used up)."""
    return ExpertCollector().act([view])[0]


def unfaithful_acceptance(view: View) -> Turn:
    """An acceptance of the standing counter-offer whose note claims the evidence that offer needs, whatever the
    debtor disclosed: the mistake a student makes when it writes the note as a pattern."""
    counter, known = view.standing_proposal("debtor"), view.evidence
    broken = set(envelope_violations(counter, Evidence())) if counter is not None else set()
    claimed = Evidence(
        hardship=known.hardship or bool(broken & {DISCOUNT_WITHOUT_HARDSHIP, LONG_PLAN_WITHOUT_HARDSHIP}),
        cash_flow=known.cash_flow or PAYMENT_DAYS_WITHOUT_CASH_FLOW in broken,
    )
    turn = _accept(view, ACCEPT_THOUGHT)
    return replace(turn, thoughts=f"{claimed.note()} {turn.thoughts}")


LONGEST_PREFERRED_PLAN = max(POLICY_PREFERRED_INST_PRDS)
# The terms only a disclosed hardship allows, as a twin breaks them: the mistakes trained collectors make
# (docs/experiments/, round 19).
HARDSHIP_ONLY = {
    "disc_ratio": (0.05, 0.10, 0.15),
    "inst_prds": tuple(m for m in AGREEMENT_GRID["inst_prds"] if m > LONGEST_PREFERRED_PLAN),
}


def _stated_offer(turn: Turn) -> Agreement | None:
    """The terms of an offer that says them in its words (the ones a twin can change), else None."""
    terms = turn.proposal
    if turn.action != "ask" or terms is None or terms.describe() not in turn.dialogue:
        return None
    return terms


def _with_terms(turn: Turn, terms: Agreement) -> Turn:
    """`turn` offering `terms` instead, in its words and its proposal alike; its note kept."""
    return replace(turn, dialogue=turn.dialogue.replace(turn.proposal.describe(), terms.describe()), proposal=terms)


def outside_envelope_twin(turn: Turn, evidence: Evidence, rng) -> Turn | None:
    """The expert's offer `turn` before any disclosed hardship, with a discount or a long plan that only a hardship
    allows, in its words and its proposal alike; its note (true) kept. The mistake a student makes when its offer
    ignores its own note. None after a hardship, or when `turn` states no terms in words the twin can change."""
    terms = _stated_offer(turn)
    if evidence.hardship or terms is None:
        return None
    field = rng.choice(sorted(HARDSHIP_ONLY))
    return _with_terms(turn, _with(terms, **{field: rng.choice(HARDSHIP_ONLY[field])}))


def hardship_ignored_twin(turn: Turn, evidence: Evidence) -> Turn | None:
    """The expert's offer `turn` after a disclosed hardship with what only the hardship allowed taken back (no
    discount, at most LONGEST_PREFERRED_PLAN months), in its words and its proposal alike: the offer that ignores
    the hardship. None before a hardship, or when `turn` has nothing to take back or no terms in words."""
    terms = _stated_offer(turn)
    if not evidence.hardship or terms is None:
        return None
    plain = _with(terms, disc_ratio=0.0, inst_prds=min(terms.inst_prds, LONGEST_PREFERRED_PLAN))
    return None if plain == terms else _with_terms(turn, plain)


class ExpertCollector(Agent):
    """Stochastic, within the envelope, using all nine strategies; the offline teacher."""

    replayable = True

    role, name = "collector", "expert"

    def act(self, views: list[View]) -> list[Turn]:
        # Every thought opens with the evidence the turn rests on: a student imitating the teacher writes it
        # down next to its proposal, instead of having to find a disclosure anywhere in the call's history.
        return [self._noted(view, self._turn(view)) for view in views]

    @staticmethod
    def _noted(view: View, turn: Turn) -> Turn:
        return replace(turn, thoughts=f"{view.evidence.note()} {turn.thoughts}".strip())

    @staticmethod
    def _ceiling(view: View) -> float:
        """This call's concession ceiling: how far the expert will go with evidence. Drawn once per call, when
        first needed; a call another collector opened (a continuation) has none drawn at its greeting."""
        if "max_disc" not in view.memory:
            view.memory["max_disc"] = view.rng.choice(MAX_DISCOUNTS)
        return view.memory["max_disc"]

    def _turn(self, view: View) -> Turn:
        rng = view.rng
        if view.turn_index == 0:
            self._ceiling(view)  # drawn at the greeting, so its place on the call's random stream is fixed
            return Turn("collector", "non", "identity verification", _say(view, "identity verification"))
        heard = view.counterpart_turns()[-1].dialogue.lower() if view.counterpart_turns() else ""
        angry = bool(tone.ANGER.search(heard))
        last = view.own_last_proposal()
        if last is not None and envelope_violations(last, view.evidence):
            last = None  # a call another collector opened with terms outside the envelope: start from the defaults
        counter = view.standing_proposal("debtor")

        if acceptable_counter(view) is not None:
            return _accept(view, ACCEPT_THOUGHT)
        if (
            counter is not None
            and not view.evidence.hardship
            and rng.random() < 0.7
            and set(envelope_violations(counter, view.evidence))
            <= {DISCOUNT_WITHOUT_HARDSHIP, PAYMENT_DAYS_WITHOUT_CASH_FLOW, LONG_PLAN_WITHOUT_HARDSHIP}
        ):
            # Their terms need evidence the policy asks for: ask for it rather than refuse.
            return Turn(
                "collector",
                "non",
                "financial assessment",
                _say(view, "financial assessment"),
                thoughts="Their terms need evidence; ask for it.",
            )
        if view.turn_index == 2:
            lead = "emotional appeasement" if angry else "establish trust"
            text = f"{_say(view, lead)} {_say(view, 'financial assessment')}"
            return Turn("collector", "non", "financial assessment", text, thoughts="Learn their situation first.")
        if angry and rng.random() < 0.6:
            if last is not None and rng.random() < 0.5:
                return _ask(view, last, "emotional appeasement", thoughts="Calm them, keep the offer on the table.")
            return Turn(
                "collector",
                "non",
                "emotional appeasement",
                _say(view, "emotional appeasement"),
                thoughts="Calm them first.",
            )

        terms = self._next_terms(view, last)
        if last is None or terms != last:
            lead = rng.choice(("establish trust", "statement of facts", None))
            return _ask(view, terms, lead, thoughts="A step within policy.")
        if not view.evidence.hardship and rng.random() < 0.5:
            return Turn(
                "collector",
                "non",
                "financial assessment",
                _say(view, "financial assessment"),
                thoughts="Evidence would let me offer more.",
            )
        evasive = bool(tone.EVASION.search(heard))
        options = ("constructive challenge", "ethical appeal", "repayment negotiation")
        strategy = rng.choice(options + ("legal deterrent",) if evasive else options)
        if strategy == "repayment negotiation":
            return _ask(view, terms, thoughts="Restate the offer.")
        return Turn("collector", "non", strategy, _say(view, strategy), thoughts="Move them towards a decision.")

    def _next_terms(self, view: View, last: Agreement | None) -> Agreement:
        """Concede once per piece of new evidence, in one clear step: small steps only invite more haggling."""
        if last is None:
            return DEFAULT_TERMS
        terms, evidence, memory = last, view.evidence, view.memory
        if evidence.cash_flow and not memory.get("cash_flow_step"):
            memory["cash_flow_step"] = True
            terms = _with(terms, pmt_days=14)
        if evidence.hardship and not memory.get("hardship_step"):
            memory["hardship_step"] = True
            terms = _with(terms, disc_ratio=view.rng.choice((0.05, 0.10, 0.15)), inst_prds=view.rng.choice((12, 18)))
        elif evidence.hardship and memory.get("hardship_step") == 1 and view.rng.random() < 0.3:
            memory["hardship_step"] = 2  # one last step for a debtor in real trouble
            terms = _with(terms, disc_ratio=min(self._ceiling(view), terms.disc_ratio + 0.05), inst_prds=24)
        # Never leave the envelope: undo whatever a step would break.
        if envelope_violations(terms, evidence):
            return last
        return terms


SCRIPTED_COLLECTORS = {"firm": FirmCollector, "conceder": ConcederCollector, "expert": ExpertCollector}


def make_scripted_collector(name: str) -> Agent:
    if name not in SCRIPTED_COLLECTORS:
        raise ValueError(f"unknown scripted collector {name!r}; allowed: {', '.join(SCRIPTED_COLLECTORS)}")
    return SCRIPTED_COLLECTORS[name]()
