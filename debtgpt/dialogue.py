"""Scenarios, turns and trajectories: what a negotiation is made of, and what every stage writes and reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from debtgpt.agreement import Agreement
from debtgpt.personas import Persona
from debtgpt.records import DebtRecord


@dataclass(frozen=True)
class Scenario:
    """One debtor to negotiate with: a debt record and the persona built on it."""

    id: str
    record: DebtRecord
    persona: Persona

    @property
    def archetype(self) -> str:
        return self.persona.archetype

    def to_dict(self) -> dict:
        return {"id": self.id, "record": self.record.to_dict(), "persona": self.persona.to_dict()}

    @classmethod
    def from_dict(cls, row: dict) -> "Scenario":
        return cls(id=row["id"], record=DebtRecord.from_dict(row["record"]), persona=Persona.from_dict(row["persona"]))


@dataclass
class Turn:
    """One side's move. `thoughts` are private; `dialogue` is what the other side hears."""

    role: str  # "collector" or "debtor"
    action: str  # ask, accept, non, hangup (debtor only)
    strategy: str
    dialogue: str
    thoughts: str = ""
    proposal: Agreement | None = None  # set with action "ask"
    raw: str | None = None  # the model's text, for LLM agents
    format_error: str | None = None  # why the raw text could not be used; the turn then counts as "non"
    violations: tuple[str, ...] = ()  # envelope rules this collector turn broke (set by the runner)
    info: dict = field(default_factory=dict)  # agent-specific extras (MADeN plans, retries, token counts)

    def to_dict(self) -> dict:
        row = {
            "role": self.role,
            "action": self.action,
            "strategy": self.strategy,
            "dialogue": self.dialogue,
            "thoughts": self.thoughts,
            "proposal": self.proposal.to_dict() if self.proposal else None,
        }
        if self.raw is not None:
            row["raw"] = self.raw
        if self.format_error is not None:
            row["format_error"] = self.format_error
        if self.violations:
            row["violations"] = list(self.violations)
        if self.info:
            row["info"] = self.info
        return row

    @classmethod
    def from_dict(cls, row: dict) -> "Turn":
        proposal = row.get("proposal")
        return cls(
            role=row["role"],
            action=row["action"],
            strategy=row["strategy"],
            dialogue=row["dialogue"],
            thoughts=row.get("thoughts", ""),
            proposal=Agreement.from_dict(proposal) if proposal else None,
            raw=row.get("raw"),
            format_error=row.get("format_error"),
            violations=tuple(row.get("violations", ())),
            info=row.get("info", {}),
        )


def standing_proposal(turns: list[Turn], of_role: str) -> Agreement | None:
    """The latest proposal of `of_role` in `turns`, if that side has made one (it stands until replaced)."""
    for turn in reversed(turns):
        if turn.role == of_role and turn.action == "ask" and turn.proposal is not None:
            return turn.proposal
    return None


# How a dialogue ended.
OUTCOME_DEAL = "deal"
OUTCOME_HANGUP = "hangup"
OUTCOME_MAX_TURNS = "max_turns"
OUTCOME_ERROR = "error"  # an agent failed for this dialogue (e.g. a server that never answered)


def dialogue_key(scenario_id: str, collector: str, sample: int, branch: str | None = None) -> str:
    """The one format of a dialogue's key: scenario/collector/sample, and @branch for a forward rollout."""
    key = f"{scenario_id}/{collector}/{sample}"
    return f"{key}@{branch}" if branch else key


@dataclass
class Trajectory:
    """A finished (or running) negotiation. Metrics are functions of finished trajectories alone."""

    scenario: Scenario
    collector: str
    debtor: str
    seed: int
    sample: int = 0  # index among several dialogues sampled for the same scenario and collector
    turns: list[Turn] = field(default_factory=list)
    outcome: str | None = None
    agreement: Agreement | None = None
    error: str | None = None
    judge_scores: dict | None = None  # criterion -> 1..10, when a judge ran
    reward: float | None = None
    reward_parts: dict | None = None
    # set on a forward rollout from a branch point of another dialogue: "<turn>/<candidate>/<rollout>"
    branch: str | None = None
    # the sample whose debtor dice this dialogue met; None: its own. Rollouts with debtor_dice=scenario set 0 on
    # every sample of a scenario (sample 0's debtor), so its samples differ by the collector alone
    debtor_dice: int | None = None

    @property
    def archetype(self) -> str:
        return self.scenario.archetype

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    @property
    def success(self) -> bool:
        return self.outcome == OUTCOME_DEAL

    def standing_proposal(self, of_role: str) -> Agreement | None:
        return standing_proposal(self.turns, of_role)

    def collector_turns(self) -> list[Turn]:
        return [t for t in self.turns if t.role == "collector"]

    def key(self) -> str:
        return dialogue_key(self.scenario.id, self.collector, self.sample, self.branch)

    def to_dict(self) -> dict:
        return (
            {
                "key": self.key(),
                "scenario": self.scenario.to_dict(),
                "collector": self.collector,
                "debtor": self.debtor,
                "seed": self.seed,
                "sample": self.sample,
                "turns": [t.to_dict() for t in self.turns],
                "outcome": self.outcome,
                "agreement": self.agreement.to_dict() if self.agreement else None,
                "error": self.error,
                "judge_scores": self.judge_scores,
                "reward": self.reward,
                "reward_parts": self.reward_parts,
            }
            | ({"branch": self.branch} if self.branch else {})
            | ({"debtor_dice": self.debtor_dice} if self.debtor_dice is not None else {})
        )

    @classmethod
    def from_dict(cls, row: dict) -> "Trajectory":
        return cls(
            scenario=Scenario.from_dict(row["scenario"]),
            collector=row["collector"],
            debtor=row["debtor"],
            seed=row["seed"],
            sample=row.get("sample", 0),
            turns=[Turn.from_dict(t) for t in row["turns"]],
            outcome=row["outcome"],
            agreement=Agreement.from_dict(row["agreement"]) if row.get("agreement") else None,
            error=row.get("error"),
            judge_scores=row.get("judge_scores"),
            reward=row.get("reward"),
            reward_parts=row.get("reward_parts"),
            branch=row.get("branch"),
            debtor_dice=row.get("debtor_dice"),
        )
