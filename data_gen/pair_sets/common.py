"""What every pair set shares: the set's interface, the inputs it is built from, and the rollout helpers.

A pair set is a module of this package with a `PAIR_SET` (`PairSet`): its name, `build` (rows from the rollouts),
`features` (its column contract, written down once) and what its card shows. The registry in `__init__` lists
them; `make pairs` (data_gen/pairs.py) builds the ones `sets` names, in the registry's order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# Drop reasons, as the cards count them (a branch point's own are counted where they arise: data_gen/candidates.py).
SINGLE_TRAJECTORY = "single_trajectory"
TIE = "tie"
UNDER_MARGIN = "under_margin"
NO_BRANCH_POINT = "no_branch_point"
NO_SUCCESS_ABOVE_THRESHOLD = "no_success_above_threshold"
# The reward columns a pair set's card summarises; the first is the one its markdown table shows.
PAIR_REWARD_COLUMNS = ("chosen_reward", "rejected_reward")


@dataclass
class PairInputs:
    """What a set is built from: the stage's config, the rescored rollouts by scenario, and where it writes."""

    cfg: Any  # pipeline.config.PairsConfig
    groups: dict[str, list]  # scenario id -> its trajectories (`by_scenario`)
    max_turns: int  # of the rollouts
    rollouts: dict  # the rollouts' card
    out: Path  # the stage's out_dir (dpo_turn keeps its candidates there)


@dataclass
class BuiltSet:
    rows: list[dict]
    dropped: Counter  # (archetype, reason) -> count
    summary: str  # the line the stage prints
    extra: dict = field(default_factory=dict)  # this set's own card fields, after the rollouts' source


def no_notes(card: dict) -> list[str]:
    return []


@dataclass(frozen=True)
class PairSet:
    name: str
    build: Callable[[PairInputs], BuiltSet]
    features: Callable[[], Any]  # datasets.Features
    # the reward columns its card summarises; the first is the one its markdown table shows
    reward_columns: tuple[str, ...] = PAIR_REWARD_COLUMNS
    # lines its README.md adds under the table
    notes: Callable[[dict], list[str]] = no_notes


def message_features() -> dict:
    from datasets import Value

    return {"role": Value("string"), "content": Value("string")}


def common_features() -> dict:
    from datasets import Value

    return {"scenario_id": Value("string"), "archetype": Value("string")}


def side_features() -> dict:
    """The conversational DPO columns (TRL): prompt, chosen, rejected, and the scenario's."""
    from datasets import List

    message = message_features()
    return {"prompt": List(message), "chosen": List(message), "rejected": List(message), **common_features()}


def conversation(trajectory, max_turns: int) -> list[dict]:
    """The collector's whole call as chat messages, rebuilt from its view (what it knew, nothing private)."""
    from debtgpt.agents.prompting import collector_messages

    return collector_messages(collector_view(trajectory, len(trajectory.turns), max_turns))


def collector_view(trajectory, upto: int, max_turns: int):
    """The collector's view after the first `upto` turns of a recorded dialogue (its history only)."""
    from debtgpt.runner import replay

    return replay(trajectory, upto, max_turns)[0].views["collector"]


def split_shared_prompt(prompt: list[dict], chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], list[dict]]:
    """Completions after a prompt both conversations start with exactly (asserted)."""
    n = len(prompt)
    assert chosen[:n] == prompt and rejected[:n] == prompt, "chosen and rejected must share their prompt exactly"
    return chosen[n:], rejected[n:]


def by_scenario(trajectories) -> dict[str, list]:
    groups: dict[str, list] = defaultdict(list)
    for t in trajectories:
        groups[t.scenario.id].append(t)
    return groups


def ranked(group: list) -> list:
    """Best first; equal rewards keep sample order, so the choice is reproducible."""
    return sorted(group, key=lambda t: (-t.reward, t.sample))


def pair_gap_reason(best: float, worst: float, margin: float) -> str | None:
    if best == worst:
        return TIE
    if best - worst < margin:
        return UNDER_MARGIN
    return None


def dropped_reasons(dropped: Counter) -> dict:
    """Drops by reason alone, as the stage prints them."""
    return dict(Counter(r for _, r in dropped.elements()))
