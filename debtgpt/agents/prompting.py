"""What every prompted LLM agent shares: the chat built from its view, one batched generation, parsed turns.

`collector_messages(view)` is the one place a collector's prompt is built: the LLM collector and MADeN
generate from it, and the data stage writes it as the SFT "messages" (system = card and instructions;
assistant = the collector's JSON turns; user = what the collector heard). It reads only the collector's view,
so no private field of the debtor can reach it. The LLM debtor and the judge reuse `history_messages` and
`heard_text`, so both sides hear a turn in the same words.
"""

from __future__ import annotations

from dataclasses import replace

from debtgpt.agents.base import Agent, DialogueError, View
from debtgpt.agreement import RATIO_FIELDS
from debtgpt.backends.base import Backend, Conversation, Generation, Sampling
from debtgpt.constants import (
    AGREEMENT_GRID,
    COLLECTOR_STRATEGIES,
    POLICY_EVIDENCED_MAX_PMT_DAYS,
    POLICY_MAX_PMT_DAYS,
    POLICY_MIN_PMT_RATIO,
    POLICY_PREFERRED_INST_PRDS,
)
from debtgpt.dialogue import Turn
from debtgpt.prompts import render
from debtgpt.protocol import parse_turn, proposal_json, turn_json_schema, write_turn

# The user message that opens every call: chat templates expect a user turn before the first assistant turn.
CALL_OPENING = "(The call connects. The debtor picks up.)"
_CARD_LABELS = {
    "id": "Case",
    "age": "Age",
    "gender": "Gender",
    "principal": "Overdue amount (the debt to settle)",
    "days_overdue": "Days overdue",
    "total_loan": "Total loan",
    "outstanding_balance": "Outstanding balance",
}


def grid_lines() -> list[tuple[str, str]]:
    """The agreement grid as the prompts show it: ratios in whole percents."""
    lines = []
    for field, values in AGREEMENT_GRID.items():
        shown = [f"{round(v * 100)}" for v in values] if field in RATIO_FIELDS else [str(v) for v in values]
        lines.append((field, ", ".join(shown)))
    return lines


def policy_text() -> dict:
    return {
        "disc": "0 %; offer a discount only after the debtor discloses a concrete hardship "
        "(job loss, illness, a failed business).",
        "pmt_ratio": f"at least {round(POLICY_MIN_PMT_RATIO * 100)} %.",
        "pmt_days": f"{POLICY_MAX_PMT_DAYS} days or fewer; up to {POLICY_EVIDENCED_MAX_PMT_DAYS} "
        "only when the debtor names a dated source of money (a payday).",
        "inst_prds": f"prefer {' or '.join(str(m) for m in POLICY_PREFERRED_INST_PRDS)} months; "
        "longer only on disclosed hardship.",
    }


def information_card(public_record: dict) -> list[tuple[str, str]]:
    card = []
    for key, value in public_record.items():
        shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
        card.append((_CARD_LABELS.get(key, key), shown))
    return card


def collector_system_prompt(public_record: dict) -> str:
    # The template puts the information card last: everything before it is the same for every debtor, so the
    # hf backend attends that part once for a whole batch (cascade attention, debtgpt/backends/prefix_cache.py).
    return render(
        "collector_system.j2",
        card=information_card(public_record),
        policy=policy_text(),
        grid=grid_lines(),
        strategies=COLLECTOR_STRATEGIES,
    )


def heard_text(turn: Turn) -> str:
    """A counterpart's turn as the other side hears it: the words, then what it did."""
    words = turn.dialogue.strip() or "(silence)"
    if turn.action == "ask" and turn.proposal is not None:
        fields = ", ".join(f"{k}={v}" for k, v in proposal_json(turn.proposal).items())
        return f"{words}\n[Proposal: {fields}]"
    if turn.action == "accept":
        return f"{words}\n[Accepts your proposal]"
    if turn.action == "hangup":
        return f"{words}\n[Hangs up]"
    return words


def history_messages(history: list[Turn], own_role: str, public_record: dict | None = None) -> list[dict]:
    """The call so far as chat turns: own turns as assistant JSON (debt figures as slots, given the record),
    the other side's as user text."""
    messages = []
    for turn in history:
        if turn.role == own_role:
            messages.append({"role": "assistant", "content": write_turn(turn, public_record)})
        else:
            messages.append({"role": "user", "content": heard_text(turn)})
    return messages


def collector_messages(view: View) -> list[dict]:
    """The collector's chat for its next turn (ends with what it heard last)."""
    return [
        {"role": "system", "content": collector_system_prompt(view.public_record)},
        {"role": "user", "content": CALL_OPENING},
        *history_messages(view.history, "collector", view.public_record),
    ]


def generation_to_turn(generation: Generation, role: str, agent: str) -> Turn | DialogueError:
    if generation.error is not None:
        return DialogueError(f"{agent}: {generation.error}")
    turn = parse_turn(generation.text, role)
    turn.info["tokens"] = {"prompt": generation.prompt_tokens, "completion": generation.completion_tokens}
    return turn


def request_seeds(views: list[View]) -> list[int]:
    """One sampling seed per dialogue from its own random stream, so a dialogue's draws ignore batching."""
    return [view.rng.randrange(2**31) for view in views]


class PromptedAgent(Agent):
    """An LLM agent of either side: its chats for a batch of views, one batched generation, parsed turns.

    The backend belongs to whoever built it (one engine often serves several agents), so `close` leaves it open.
    """

    default_temperature = 0.7

    def __init__(
        self, backend: Backend, *, name: str, sampling: Sampling | None = None, guided_json: bool = True
    ) -> None:
        """`guided_json` asks the backend to constrain output to the turn schema where it can."""
        self.backend = backend
        self.name = name
        base = sampling or Sampling(temperature=self.default_temperature)
        self.sampling = replace(base, json_schema=turn_json_schema(self.role) if guided_json else None)

    def messages(self, view: View) -> list[dict]:
        raise NotImplementedError

    def prompts(self, views: list[View]) -> list[Conversation]:
        return [self.messages(view) for view in views]

    def act(self, views: list[View]) -> list[Turn | DialogueError]:
        if not views:
            return []
        generations = self.backend.generate(self.prompts(views), self.sampling, request_seeds(views))
        return [generation_to_turn(g, self.role, self.name) for g in generations]
