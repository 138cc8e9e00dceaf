"""The dialogue runner: advances many negotiations at once and batches each side's turns across them.

Dialogues wait in a queue; up to `batch_size` are live at a time. Each step asks the collector for the
turns of every live dialogue where it is the collector's turn, and the debtor likewise, in one call per
side. Finished dialogues leave the batch at once and queued ones take their place, so a slow dialogue
never holds the others back. Every dialogue has its own random streams, so results do not depend on the
batch size or on which dialogues share a batch.
"""

from __future__ import annotations

import copy
import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

from tqdm.auto import tqdm

from debtgpt.agents.base import Agent, DialogueError, View, redact
from debtgpt.checks import require_at_least
from debtgpt.constants import DEFAULT_MAX_TURNS
from debtgpt.dialogue import OUTCOME_DEAL, OUTCOME_ERROR, OUTCOME_HANGUP, OUTCOME_MAX_TURNS, Scenario, Trajectory, Turn
from debtgpt.facts import fill_debt_facts
from debtgpt.policy import Evidence, envelope_violations, evidence_in

log = logging.getLogger(__name__)


class LiveDialogue:
    """A running dialogue: its trajectory and each side's view (history, memory and random stream)."""

    __slots__ = ("trajectory", "views")

    def __init__(self, trajectory: Trajectory, views: dict[str, View]):
        self.trajectory = trajectory
        self.views = views

    @property
    def next_role(self) -> str:
        return "collector" if len(self.trajectory.turns) % 2 == 0 else "debtor"

    def fork(self, stream: str, seed: int, *, sample: int | None = None, branch: str | None = None) -> "LiveDialogue":
        """An independent copy that goes on from here on the random streams named `stream`.

        Copies share the (never mutated) turns and scenario; each gets its own history lists and memory.
        """
        old = self.trajectory
        trajectory = Trajectory(
            scenario=old.scenario,
            collector=old.collector,
            debtor=old.debtor,
            seed=seed,
            sample=old.sample if sample is None else sample,
            turns=list(old.turns),
            branch=branch,
            debtor_dice=old.debtor_dice,
        )
        views = {}
        for role, view in self.views.items():
            fresh = copy.copy(view)
            fresh.key, fresh.history, fresh.memory = trajectory.key(), list(view.history), copy.deepcopy(view.memory)
            fresh.rng = dialogue_rng(seed, stream, role)
            views[role] = fresh
        return LiveDialogue(trajectory, views)


@dataclass(frozen=True)
class DialogueJob:
    """One dialogue to run: a scenario and which sample of it this is, or a live dialogue to go on from."""

    scenario: Scenario
    sample: int = 0
    start: LiveDialogue | None = None  # e.g. a forward rollout from a branch point (see `replay` and `fork`)
    debtor_dice: int | None = None  # meet this sample's debtor dice instead of its own (see Trajectory.debtor_dice)


def dialogue_rng(seed: int, stream: str, role: str) -> random.Random:
    return random.Random(f"{seed}/{stream}/{role}")


def common_stream(scenario_id: str, sample: int) -> str:
    """Random streams are named by scenario and sample, not collector: every collector compared on a
    (scenario, sample) meets the same debtor dice (common random numbers), so paired differences are the
    collectors' and not the dice's."""
    return f"{scenario_id}/{sample}"


def start_dialogue(job: DialogueJob, collector: Agent, debtor: Agent, seed: int, max_turns: int) -> LiveDialogue:
    return new_dialogue(job.scenario, job.sample, collector.name, debtor.name, seed, max_turns, job.debtor_dice)


def new_dialogue(
    scenario: Scenario,
    sample: int,
    collector: str,
    debtor: str,
    seed: int,
    max_turns: int,
    debtor_dice: int | None = None,
) -> LiveDialogue:
    trajectory = Trajectory(
        scenario=scenario, collector=collector, debtor=debtor, seed=seed, sample=sample, debtor_dice=debtor_dice
    )
    key, stream = trajectory.key(), common_stream(scenario.id, sample)
    debtor_stream = stream if debtor_dice is None else common_stream(scenario.id, debtor_dice)
    views = {
        "collector": View(
            key, "collector", scenario.record.public(), [], dialogue_rng(seed, stream, "collector"), max_turns
        ),
        "debtor": View(
            key,
            "debtor",
            scenario.record.public(),
            [],
            dialogue_rng(seed, debtor_stream, "debtor"),
            max_turns,
            persona=scenario.persona,
            record=scenario.record,
        ),
    }
    return LiveDialogue(trajectory, views)


def replay(
    recorded: Trajectory, upto: int, max_turns: int, agents: dict[str, Agent] | None = None
) -> tuple[LiveDialogue, int]:
    """The live dialogue after the first `upto` turns of a recorded one, and how many replayed turns differ.

    Each side's view gets the recorded turns. With `agents` ({"collector": ..., "debtor": ...}), a replayable
    (scripted) agent is also asked for each of its turns on the original random stream, so its memory and
    stream end up exactly where they were; its answer is only compared (a mismatch means the agent changed
    since), never used. LLM agents keep no state beyond the history, so the recorded turns suffice.
    """
    live = new_dialogue(
        recorded.scenario,
        recorded.sample,
        recorded.collector,
        recorded.debtor,
        recorded.seed,
        max_turns,
        recorded.debtor_dice,
    )
    mismatches = 0
    for turn in recorded.turns[:upto]:
        agent = (agents or {}).get(turn.role)
        if agent is not None and agent.replayable:
            mismatches += not same_turn(agent.act([live.views[turn.role]])[0], turn)
        apply_turn(live, fresh_turn(turn), max_turns)
    return live, mismatches


def fresh_turn(turn: Turn) -> Turn:
    """A copy for apply_turn to judge anew (it sets violations and notes on the turn it is given)."""
    copied = Turn.from_dict(turn.to_dict())
    copied.violations = ()
    copied.info.pop("invalid_accept", None)
    return copied


def same_turn(a, b: Turn) -> bool:
    fields = ("role", "action", "strategy", "dialogue", "thoughts", "proposal")
    return isinstance(a, Turn) and all(getattr(a, f) == getattr(b, f) for f in fields)


def apply_turn(live: LiveDialogue, turn: Turn, max_turns: int) -> None:
    """Append a turn, judge it against the envelope, and end the dialogue if it is over."""
    trajectory = live.trajectory
    role, other = turn.role, "debtor" if turn.role == "collector" else "collector"
    accepted = trajectory.standing_proposal(other) if turn.action == "accept" else None
    if turn.action == "accept" and accepted is None:
        turn.info["invalid_accept"] = "no standing proposal to accept"
    if role == "collector":
        turn.dialogue = fill_debt_facts(turn.dialogue, live.views["collector"].public_record)
        terms = turn.proposal if turn.action == "ask" else accepted
        if terms is not None:
            turn.violations = envelope_violations(terms, live.views["collector"].evidence)
    else:
        found = evidence_in(turn.dialogue)
        if found.hardship or found.cash_flow:
            seen = live.views["collector"].evidence
            live.views["collector"].evidence = Evidence(
                seen.hardship or found.hardship, seen.cash_flow or found.cash_flow
            )

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
        log.warning(
            "%s raised %s on a batch of %d; retrying each dialogue alone", agent.name, type(exc).__name__, len(views)
        )
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
    live: list[tuple[int, LiveDialogue]] = []
    bar = tqdm(total=len(queue), desc=desc or f"{collector.name} vs {debtor.name}", disable=not progress, unit="dlg")

    while queue or live:
        while queue and len(live) < batch_size:
            index, job = queue.popleft()
            started = job.start if job.start is not None else start_dialogue(job, collector, debtor, seed, max_turns)
            live.append((index, started))
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
