"""The dialogue runner: advances many negotiations at once and batches each side's turns across them.

Dialogues wait in a queue; up to `batch_size` are live at a time. Each step asks the collector for the
turns of every live dialogue where it is the collector's turn, and the debtor likewise, in one call per
side. Finished dialogues leave the batch at once and queued ones take their place, so a slow dialogue
never holds the others back. Every dialogue has its own random streams, so results do not depend on the
batch size or on which dialogues share a batch.
"""
from __future__ import annotations

import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

from tqdm.auto import tqdm

from debtgpt.agents.base import Agent, DialogueError, View, redact
from debtgpt.config import require_at_least
from debtgpt.constants import DEFAULT_MAX_TURNS
from debtgpt.dialogue import OUTCOME_DEAL, OUTCOME_ERROR, OUTCOME_HANGUP, OUTCOME_MAX_TURNS, Scenario, Trajectory, Turn
from debtgpt.policy import Evidence, envelope_violations, evidence_in

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DialogueJob:
    """One dialogue to run: a scenario and which sample of it this is."""

    scenario: Scenario
    sample: int = 0


class _Live:
    """A running dialogue: its trajectory and each side's view."""

    __slots__ = ("trajectory", "views")

    def __init__(self, trajectory: Trajectory, views: dict[str, View]):
        self.trajectory = trajectory
        self.views = views

    @property
    def next_role(self) -> str:
        return "collector" if len(self.trajectory.turns) % 2 == 0 else "debtor"


def dialogue_rng(seed: int, key: str, role: str) -> random.Random:
    return random.Random(f"{seed}/{key}/{role}")


def start_dialogue(job: DialogueJob, collector: Agent, debtor: Agent, seed: int, max_turns: int) -> _Live:
    scenario = job.scenario
    trajectory = Trajectory(scenario=scenario, collector=collector.name, debtor=debtor.name, seed=seed, sample=job.sample)
    key = trajectory.key()
    views = {
        "collector": View(key, "collector", scenario.record.public(), [], dialogue_rng(seed, key, "collector"), max_turns),
        "debtor": View(
            key, "debtor", scenario.record.public(), [], dialogue_rng(seed, key, "debtor"), max_turns,
            persona=scenario.persona, record=scenario.record,
        ),
    }
    return _Live(trajectory, views)


def apply_turn(live: _Live, turn: Turn, max_turns: int) -> None:
    """Append a turn, judge it against the envelope, and end the dialogue if it is over."""
    trajectory = live.trajectory
    role, other = turn.role, "debtor" if turn.role == "collector" else "collector"
    accepted = trajectory.standing_proposal(other) if turn.action == "accept" else None
    if turn.action == "accept" and accepted is None:
        turn.info["invalid_accept"] = "no standing proposal to accept"
    if role == "collector":
        terms = turn.proposal if turn.action == "ask" else accepted
        if terms is not None:
            turn.violations = envelope_violations(terms, live.views["collector"].evidence)
    else:
        found = evidence_in(turn.dialogue)
        if found.hardship or found.cash_flow:
            seen = live.views["collector"].evidence
            live.views["collector"].evidence = Evidence(seen.hardship or found.hardship, seen.cash_flow or found.cash_flow)

    trajectory.turns.append(turn)
    live.views[role].history.append(turn)
    live.views[other].history.append(redact(turn))

    if accepted is not None:
        trajectory.outcome, trajectory.agreement = OUTCOME_DEAL, accepted
    elif turn.action == "hangup":
        trajectory.outcome = OUTCOME_HANGUP
    elif len(trajectory.turns) >= max_turns:
        trajectory.outcome = OUTCOME_MAX_TURNS


def act_per_dialogue(agent: Agent, views: list[View]) -> list[Turn | DialogueError]:
    """One turn or DialogueError per view. When the batched call raises, each view is retried alone, so an
    exception ends only the dialogues that cause it and the rest of the batch goes on."""
    try:
        turns = agent.act(views)
        if len(turns) != len(views):
            raise RuntimeError(f"returned {len(turns)} turns for {len(views)} dialogues")
        return turns
    except Exception as exc:
        if len(views) == 1:
            return [DialogueError(f"{agent.name} raised {type(exc).__name__}: {str(exc)[:300]}")]
        log.warning("%s raised %s on a batch of %d; retrying each dialogue alone", agent.name, type(exc).__name__, len(views))
        return [turn for view in views for turn in act_per_dialogue(agent, [view])]


def run_dialogues(
    jobs: Iterable[DialogueJob],
    collector: Agent,
    debtor: Agent,
    *,
    seed: int = 0,
    max_turns: int = DEFAULT_MAX_TURNS,
    batch_size: int = 256,
    on_finished: Callable[[Trajectory], None] | None = None,
    progress: bool = False,
    desc: str | None = None,
) -> list[Trajectory]:
    """Run every job to its end; returns the trajectories in job order."""
    if collector.role != "collector" or debtor.role != "debtor":
        raise ValueError(f"run_dialogues needs a collector and a debtor, got {collector.role!r} and {debtor.role!r}")
    require_at_least(1, batch_size=batch_size)
    require_at_least(2, max_turns=max_turns)
    queue = deque(enumerate(jobs))
    results: list[Trajectory | None] = [None] * len(queue)
    live: list[tuple[int, _Live]] = []
    bar = tqdm(total=len(queue), desc=desc or f"{collector.name} vs {debtor.name}", disable=not progress, unit="dlg")

    while queue or live:
        while queue and len(live) < batch_size:
            index, job = queue.popleft()
            live.append((index, start_dialogue(job, collector, debtor, seed, max_turns)))
        for role, agent in (("collector", collector), ("debtor", debtor)):
            movers = [item for item in live if item[1].next_role == role and not item[1].trajectory.finished]
            if not movers:
                continue
            turns = act_per_dialogue(agent, [item[1].views[role] for item in movers])
            for (_, dialogue), turn in zip(movers, turns):
                if not isinstance(turn, DialogueError):
                    try:
                        apply_turn(dialogue, turn, max_turns)
                    except Exception as exc:  # a malformed turn object ends its own dialogue only
                        turn = DialogueError(f"{agent.name} returned an unusable turn ({type(exc).__name__}: {exc})")
                if isinstance(turn, DialogueError):
                    dialogue.trajectory.outcome, dialogue.trajectory.error = OUTCOME_ERROR, turn.message
                    log.warning("dialogue %s ended with an error: %s", dialogue.trajectory.key(), turn.message)
        still_live = []
        for index, dialogue in live:
            if dialogue.trajectory.finished:
                results[index] = dialogue.trajectory
                if on_finished is not None:
                    on_finished(dialogue.trajectory)
                bar.update(1)
            else:
                still_live.append((index, dialogue))
        live = still_live
    bar.close()
    return results  # type: ignore[return-value]
