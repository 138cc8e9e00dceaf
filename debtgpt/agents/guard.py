"""The envelope guard, for deployment: any collector's out-of-envelope proposal or acceptance is replaced with a
compliant turn before the debtor hears it.

Evaluate a guarded collector as `NAME+guard` (e.g. `collectors=[dpo,dpo+guard]`): it is reported under that
name, beside the model alone. Learning comparisons never use it: a guard hides what the model learned.
MADeN's judging module falls back on the same `safe_turn` when its drafts keep breaking the envelope.
"""

from __future__ import annotations

from debtgpt.agents.base import Agent, DialogueError, View
from debtgpt.agreement import Agreement
from debtgpt.constants import POLICY_DEFAULT_TERMS
from debtgpt.dialogue import Turn
from debtgpt.policy import envelope_violations
from debtgpt.protocol import write_turn

GUARD_SUFFIX = "+guard"
SAFE_TERMS = Agreement(**POLICY_DEFAULT_TERMS)  # within the envelope whatever the debtor has disclosed


def breaks_envelope(view: View, turn: Turn) -> bool:
    """Whether sending this turn would propose, or agree to, terms outside the policy envelope."""
    if turn.format_error is not None:
        return False  # counted as talk: it proposes nothing
    if turn.action == "ask" and turn.proposal is not None:
        return bool(envelope_violations(turn.proposal, view.evidence))
    if turn.action == "accept":
        standing = view.standing_proposal("debtor")
        return standing is None or bool(envelope_violations(standing, view.evidence))
    return False


def safe_turn(view: View, draft: Turn) -> Turn:
    """A compliant replacement of `draft`: the collector's own standing offer if it is still within the envelope,
    else the policy defaults (always within it), said plainly; the replaced draft is kept in `info`."""
    own = view.own_last_proposal()
    terms = own if own is not None and not envelope_violations(own, view.evidence) else SAFE_TERMS
    return Turn(
        role="collector",
        action="ask",
        strategy="repayment negotiation",
        dialogue=f"What I can offer within our policy is {terms.describe()}.",
        thoughts=f"{view.evidence.note()} The draft broke policy; restate terms that are within it.",
        proposal=terms,
        raw=draft.raw,
        info={**draft.info, "fallback": "safe terms", "rejected_draft": write_turn(draft)},
    )


class EnvelopeGuard(Agent):
    """A collector whose every out-of-envelope proposal or acceptance is replaced by `safe_turn`."""

    role = "collector"

    def __init__(self, inner: Agent) -> None:
        self.inner = inner
        self.name = f"{inner.name}{GUARD_SUFFIX}"
        self.replayable = inner.replayable

    def act(self, views: list[View]) -> list[Turn | DialogueError]:
        turns = self.inner.act(views)
        return [
            safe_turn(view, turn) if isinstance(turn, Turn) and breaks_envelope(view, turn) else turn
            for view, turn in zip(views, turns)
        ]

    def close(self) -> None:
        self.inner.close()
