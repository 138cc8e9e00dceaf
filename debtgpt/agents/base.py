"""The agent interface the dialogue runner drives: one call per side per step, for a whole batch.

An agent receives a list of `View`s (one per dialogue where it is that side's turn) and returns one
`Turn` per view, or a `DialogueError` for a dialogue it could not serve. LLM agents turn the list into
one batched generation; scripted agents loop. A view holds only what that side may know: the collector's
view has the public record and what it heard, never the debtor's finances, persona or thoughts.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from debtgpt.dialogue import Scenario, Trajectory, Turn, standing_proposal
from debtgpt.personas import Persona
from debtgpt.policy import Evidence
from debtgpt.records import DebtRecord


@dataclass
class View:
    """One side's view of one running dialogue."""

    key: str  # the dialogue's key (scenario/collector/sample)
    role: str  # whose view this is
    public_record: dict  # the debt information a collector may see
    history: list[Turn]  # the turns as this side saw them: own turns in full, the other side's redacted
    rng: random.Random  # this dialogue's own random stream for this side (independent of batching)
    max_turns: int
    evidence: Evidence = Evidence()  # what the debtor has disclosed so far (maintained by the runner)
    memory: dict = field(default_factory=dict)  # the agent's private notes for this dialogue
    persona: Persona | None = None  # debtor side only
    record: DebtRecord | None = None  # debtor side only: the full record with private finances

    @property
    def turn_index(self) -> int:
        return len(self.history)

    @property
    def turns_left(self) -> int:
        return self.max_turns - len(self.history)

    def standing_proposal(self, of_role: str):
        return standing_proposal(self.history, of_role)

    def own_last_proposal(self):
        return self.standing_proposal(self.role)

    def counterpart_turns(self) -> list[Turn]:
        return [t for t in self.history if t.role != self.role]


@dataclass
class DialogueError:
    """An agent could not produce a turn for this dialogue (e.g. its server never answered); it ends there."""

    message: str


class Agent(ABC):
    """A collector or a debtor. `name` identifies it in trajectories and reports."""

    role: str = ""
    name: str = ""
    # True for agents whose turns depend only on the view and its random stream (scripted ones): replaying
    # a recorded dialogue through them rebuilds their memory (runner.replay)
    replayable: bool = False

    @abstractmethod
    def act(self, views: list[View]) -> list[Turn | DialogueError]:
        """One turn for each view, in order."""

    def close(self) -> None:
        """Release backends or servers; called once the runner is done."""


@dataclass
class RankRequest:
    """Candidate collector turns for one shared history of one scenario."""

    scenario: Scenario
    history: list[Turn]
    candidates: list[Turn]


class Judge(ABC):
    """What a reader makes of the collector's turns, on JUDGE_CRITERIA (1 to 10 each): one interface for the
    LLM judge (agents/judge.py) and the offline heuristic judge (heuristic_judge.py), as Sotopia's evaluators.
    A judge reads finished dialogues and candidate turns; it never plays one."""

    name: str = ""

    def __init__(self) -> None:
        self.unparsed: list[str] = []  # raw verdicts that could not be read (an LLM judge's; empty for rules)

    @abstractmethod
    def score(self, trajectories: list[Trajectory]) -> list[dict | None]:
        """Per finished dialogue, each criterion's score; None where there is no verdict."""

    @abstractmethod
    def rank(self, requests: list[RankRequest]) -> list[list[float | None]]:
        """Per request, per candidate in the request's order: S_k = s_fwd + s_rev (forward and reverse passes)."""

    def close(self) -> None:
        """Release what the judge holds; a backend belongs to whoever built it, so it stays open."""


def redact(turn: Turn) -> Turn:
    """The turn as the other side hears it: words, action and proposal; no thoughts, labels or raw text."""
    return Turn(role=turn.role, action=turn.action, strategy="", dialogue=turn.dialogue, proposal=turn.proposal)
