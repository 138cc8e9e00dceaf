"""Branching a finished dialogue at a collector turn (turn-level rejection sampling, docs/design.md section 4).

`runner.replay` rebuilds the dialogue at the branch point with both sides' state (a scripted agent's memory
and random stream included). Each candidate turn is sampled from its own copy of the collector's view, on
its own stream. Every kept candidate is then played forward M times from a fork of that state: rollout j
of every candidate at a branch point runs on the same random streams (common random numbers), so the
debtor meets each candidate with the same dice and a difference in reward is the candidates', not luck's.
All forward rollouts of a batch of branch points go through one `run_dialogues` call.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

from debtgpt.agents.base import Agent, DialogueError, View
from debtgpt.dialogue import Trajectory, Turn
from debtgpt.runner import DialogueJob, LiveDialogue, apply_turn, dialogue_rng, fresh_turn, run_dialogues


@dataclass(frozen=True)
class BranchPoint:
    """A collector turn of a finished rollout dialogue where candidates are sampled."""

    trajectory: Trajectory
    turn_index: int

    @property
    def key(self) -> str:
        return f"{self.trajectory.key()}@{self.turn_index}"


@dataclass
class Candidate:
    """One sampled turn at a branch point and the collector's view right after producing it."""

    turn: Turn | DialogueError
    view: View


def candidate_rng(seed: int, point_key: str, candidate: int) -> random.Random:
    return dialogue_rng(seed, f"{point_key}/candidate{candidate}", "collector")


def sample_candidates(
    lives: list[tuple[BranchPoint, LiveDialogue]], collector: Agent, num_candidates: int, seed: int
) -> list[list[Candidate]]:
    """num_candidates turns per branch point, each from its own view copy and stream; one batched call."""
    views: list[View] = []
    for point, live in lives:
        for c in range(num_candidates):
            view = copy.copy(live.views["collector"])  # turns are never changed in place: share them
            view.history, view.memory = list(view.history), copy.deepcopy(view.memory)
            view.rng = candidate_rng(seed, point.key, c)
            views.append(view)
    turns = collector.act(views) if views else []
    candidates = [Candidate(turn, view) for turn, view in zip(turns, views)]
    return [candidates[i * num_candidates : (i + 1) * num_candidates] for i in range(len(lives))]


def forward_start(
    point: BranchPoint, live: LiveDialogue, candidate: Candidate, index: int, rollout: int, seed: int, max_turns: int
) -> LiveDialogue:
    """The branch point's state with the candidate played, going on from there on rollout j's common streams."""
    with_candidate = LiveDialogue(live.trajectory, {"collector": candidate.view, "debtor": live.views["debtor"]})
    start = with_candidate.fork(f"{point.key}/rollout{rollout}", seed, branch=f"{point.turn_index}/{index}/{rollout}")
    apply_turn(start, fresh_turn(candidate.turn), max_turns)
    return start


def roll_forward(
    starts: list[LiveDialogue],
    collector: Agent,
    debtor: Agent,
    *,
    seed: int,
    max_turns: int,
    batch_size: int,
    progress: bool = False,
) -> list[Trajectory]:
    """Every start played to its end, batched like any dialogues; trajectories in the order of `starts`."""
    jobs = [DialogueJob(s.trajectory.scenario, s.trajectory.sample, start=s) for s in starts]
    return run_dialogues(
        jobs,
        collector,
        debtor,
        seed=seed,
        max_turns=max_turns,
        batch_size=batch_size,
        progress=progress,
        desc="forward rollouts",
    )
