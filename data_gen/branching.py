"""Branching a finished dialogue at a collector turn (turn-level rejection sampling, DESIGN.md section 4).

The runner starts every dialogue from scratch, so a dialogue is continued from a branch point by replaying
its history: `ForcedTurns` wraps each side's agent and, for the first turns of a branch rollout, plays the
recorded turns (then the candidate) instead of new ones. Scripted agents keep private memory and random
streams, so they are also asked for those turns, with the original dialogue's streams: being
deterministic, they produce the recorded turns again and end up in exactly the state they had there
(mismatches are counted, never used). LLM agents read only the history, so their turns are simply forced.
After the branch point each side continues on the rollout's own streams, so the M rollouts of a candidate
differ. All branch points' rollouts then go through one `run_dialogues` call, batched like any dialogue.
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from debtgpt.agents.base import Agent, DialogueError, View
from debtgpt.dialogue import Trajectory, Turn
from debtgpt.runner import DialogueJob, _Live, apply_turn, dialogue_rng, start_dialogue

# Forward rollouts are keyed scenario/<collector>+branch/<sample>; the sample packs where the rollout comes from.
BRANCH_SUFFIX = "+branch"
MAX_CANDIDATES = 100
MAX_ROLLOUTS_PER_CANDIDATE = 100
MAX_TURN_INDEX = 1000


def is_replayable(agent: Agent) -> bool:
    """Scripted agents: deterministic given a view and its random stream."""
    from debtgpt.agents.scripted import SCRIPTED_COLLECTORS, ScriptedDebtor

    return isinstance(agent, (ScriptedDebtor, *SCRIPTED_COLLECTORS.values()))


def copy_turn(turn: Turn) -> Turn:
    """A fresh copy for the runner to apply (it sets violations and notes on the turn it is given)."""
    fresh = Turn.from_dict(turn.to_dict())
    fresh.violations = ()
    fresh.info.pop("invalid_accept", None)
    return fresh


def same_turn(a: Turn | DialogueError, b: Turn) -> bool:
    fields = ("role", "action", "strategy", "dialogue", "thoughts", "proposal")
    return isinstance(a, Turn) and all(getattr(a, f) == getattr(b, f) for f in fields)


@dataclass(frozen=True)
class BranchPoint:
    """A collector turn of a finished rollout dialogue where candidates are sampled."""

    trajectory: Trajectory
    turn_index: int

    @property
    def key(self) -> str:
        return f"{self.trajectory.key()}@{self.turn_index}"


def candidate_rng(seed: int, point_key: str, candidate: int) -> random.Random:
    return dialogue_rng(seed, f"{point_key}/candidate{candidate}", "collector")


class _Named:
    """Stands in for an agent where only its name is read (the runner's start_dialogue)."""

    def __init__(self, name: str):
        self.name = name


def rebuild(trajectory: Trajectory, upto: int, max_turns: int, agents: dict[str, Agent] | None = None) -> tuple[_Live, int]:
    """The live dialogue after its first `upto` turns, and how many replayed turns came out differently.

    With `agents`, the scripted ones replay their turns on the original streams to rebuild their memory.
    """
    job = DialogueJob(trajectory.scenario, trajectory.sample)
    live = start_dialogue(job, _Named(trajectory.collector), _Named(trajectory.debtor), trajectory.seed, max_turns)
    mismatches = 0
    for turn in trajectory.turns[:upto]:
        agent = (agents or {}).get(turn.role)
        if agent is not None and is_replayable(agent):
            mismatches += not same_turn(agent.act([live.views[turn.role]])[0], turn)
        apply_turn(live, copy_turn(turn), max_turns)
    return live, mismatches


def sample_candidates(lives: list[tuple[BranchPoint, _Live]], collector: Agent, num_candidates: int, seed: int) -> list[list]:
    """num_candidates turns per branch point, each on its own random stream; one batched call for all points."""
    views: list[View] = []
    for point, live in lives:
        for c in range(num_candidates):
            view = copy.copy(live.views["collector"])  # turns are never changed in place: share them
            view.history, view.memory = list(view.history), copy.deepcopy(view.memory)  # each candidate its own memory
            view.rng = candidate_rng(seed, point.key, c)
            views.append(view)
    turns = collector.act(views) if views else []
    return [turns[i * num_candidates : (i + 1) * num_candidates] for i in range(len(lives))]


@dataclass
class ForwardPlan:
    """One forward rollout: the recorded turns before the branch point, then the candidate, then free play."""

    point: BranchPoint
    candidate: int
    candidate_seed: int
    forced: list[Turn] = field(default_factory=list)


def forward_sample(point: BranchPoint, candidate: int, rollout: int) -> int:
    return ((point.trajectory.sample * MAX_TURN_INDEX + point.turn_index) * MAX_CANDIDATES + candidate) * MAX_ROLLOUTS_PER_CANDIDATE + rollout


class ForcedTurns(Agent):
    """Wraps an agent: plays each plan's forced turns first (replaying scripted agents), then the agent itself."""

    def __init__(self, agent: Agent, plans: dict[str, ForwardPlan]):
        self.agent, self.plans = agent, plans
        self.role = agent.role
        self.name = agent.name + (BRANCH_SUFFIX if agent.role == "collector" else "")
        self.replay = is_replayable(agent)
        self.mismatches = 0
        self._own_rng: dict[str, random.Random] = {}
        self._replay_rng: dict[str, random.Random] = {}

    def _replay_stream(self, view: View, plan: ForwardPlan) -> random.Random:
        if self.role == "collector" and view.turn_index == plan.point.turn_index:
            return candidate_rng(plan.candidate_seed, plan.point.key, plan.candidate)  # regenerates the candidate
        origin = plan.point.trajectory
        if view.key not in self._replay_rng:
            self._replay_rng[view.key] = dialogue_rng(origin.seed, origin.key(), self.role)
        return self._replay_rng[view.key]

    def act(self, views: list[View]) -> list[Turn | DialogueError]:
        out: list[Turn | DialogueError | None] = [None] * len(views)
        calls: list[tuple[int, Turn | None]] = []
        for i, view in enumerate(views):
            plan = self.plans.get(view.key)
            if plan is None or view.turn_index >= len(plan.forced):
                if view.key in self._own_rng:  # the history is replayed: back to this rollout's own stream
                    view.rng = self._own_rng.pop(view.key)
                    self._replay_rng.pop(view.key, None)
                calls.append((i, None))
                continue
            forced = plan.forced[view.turn_index]
            if self.replay:
                self._own_rng.setdefault(view.key, view.rng)
                view.rng = self._replay_stream(view, plan)
                calls.append((i, forced))
            else:
                out[i] = copy_turn(forced)
        if calls:
            produced = self.agent.act([views[i] for i, _ in calls])
            for (i, forced), turn in zip(calls, produced):
                if forced is None:
                    out[i] = turn
                else:
                    self.mismatches += not same_turn(turn, forced)
                    out[i] = copy_turn(forced)
        return out  # type: ignore[return-value]


def roll_forward(
    plans: list[tuple[ForwardPlan, int]], collector: Agent, debtor: Agent, *, seed: int, max_turns: int, batch_size: int,
    progress: bool = False,
) -> tuple[list[Trajectory], int]:
    """Every (plan, rollout index) played to the end in one run_dialogues call; returns trajectories and replay mismatches."""
    from debtgpt.runner import run_dialogues

    by_key, jobs = {}, []
    wrapped_name = collector.name + BRANCH_SUFFIX
    for plan, rollout in plans:
        sample = forward_sample(plan.point, plan.candidate, rollout)
        by_key[f"{plan.point.trajectory.scenario.id}/{wrapped_name}/{sample}"] = plan
        jobs.append(DialogueJob(plan.point.trajectory.scenario, sample))
    if len(by_key) != len(jobs):
        raise ValueError("forward rollouts must have distinct keys: one plan per (branch point, candidate, rollout)")
    forced_collector, forced_debtor = ForcedTurns(collector, by_key), ForcedTurns(debtor, by_key)
    trajectories = run_dialogues(
        jobs, forced_collector, forced_debtor, seed=seed, max_turns=max_turns, batch_size=batch_size,
        progress=progress, desc="forward rollouts",
    )
    for (plan, _), trajectory in zip(plans, trajectories):
        played = trajectory.turns[: len(plan.forced)]
        if len(played) != len(plan.forced) or not all(same_turn(a, b) for a, b in zip(played, plan.forced)):
            raise RuntimeError(f"forward rollout {trajectory.key()} does not start with its branch point's history")
    return trajectories, forced_collector.mismatches + forced_debtor.mismatches


def validate_sizes(num_candidates: int, rollouts_per_candidate: int, max_turns: int) -> None:
    if not 2 <= num_candidates <= MAX_CANDIDATES:
        raise ValueError(f"num_candidates={num_candidates} must be between 2 and {MAX_CANDIDATES}")
    if not 1 <= rollouts_per_candidate <= MAX_ROLLOUTS_PER_CANDIDATE:
        raise ValueError(f"rollouts_per_candidate={rollouts_per_candidate} must be between 1 and {MAX_ROLLOUTS_PER_CANDIDATE}")
    if max_turns >= MAX_TURN_INDEX:
        raise ValueError(f"max_turns={max_turns} must be below {MAX_TURN_INDEX} for turn-level pairs")
