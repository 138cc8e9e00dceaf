"""The rejection-sampling reward (docs/design.md section 4, ours): what one finished dialogue is worth.

    reward = w_CR * CR + w_CE * CE_norm            (recovery, of a deal that stands)
           + w_SA * SA + w_LS * LS                 (rationality, of a deal that stands)
           + w_experience * experience             (judge, only when a judge scored the dialogue)
           - w_violations * violation_share        (discipline)
           - w_format_errors * format_error_share  (hygiene)
           - w_breach * [the deal is void]         (compliance)

Breaking the rules never pays. A deal is void when its terms break the policy envelope (given what the debtor
had disclosed before it), when the debtor heard a collector turn that could not be parsed before it, or when
the collector misstated the debt (`metrics.deal_breaches`): a compliance officer cannot stand behind such a
deal, so it recovers nothing, and the breach costs w_breach > 0 on top. A void deal is therefore worth
strictly less than the same dialogue ending with no deal, whatever its length and whatever the (non-negative)
weights; the per-turn violation share alone could not promise that, since one bad acceptance in a ten-turn
call cost a tenth of what the deal it closed was worth.

Every part comes from `metrics.dialogue_scores`, so the reward measures what DebtBench reports, per
dialogue. CE_norm = min(CE / ce_reference, 1): CE of the policy-default deal earns full credit; faster
terms earn nothing more, because squeezing days and up-front share is what makes a deal unaffordable.
A failed dialogue (no deal: hangup, max_turns or an agent error) has recovery 0 and rationality 0: there
is no agreement to collect on or to judge as affordable, so no failure outscores a rational deal; its
penalties still count. Experience is (mean judge score - 1) / 9 in [0, 1]; without judge scores it is
left out (part None), which is consistent within one run because a judge is on for all its dialogues or
for none.
"""

from __future__ import annotations

from statistics import fmean

from debtgpt.constants import (  # noqa: F401  (POLICY_DEFAULT_CE: the default ce_reference)
    JUDGE_CRITERIA,
    POLICY_DEFAULT_CE,
)
from debtgpt.dialogue import Trajectory
from debtgpt.metrics import deal_breaches, dialogue_scores

JUDGE_SCALE = (1.0, 10.0)
WEIGHT_NAMES = ("CR", "CE", "SA", "LS", "experience", "violations", "format_errors", "breach", "ce_reference")
# Weights that must be above 0, not merely at least 0: without them the promise above does not hold.
POSITIVE_WEIGHTS = ("breach", "ce_reference")


def _weight(weights, name: str) -> float:
    value = weights.get(name) if isinstance(weights, dict) else getattr(weights, name, None)
    if value is None:
        raise ValueError(f"reward weight {name!r} is missing; the reward needs: {', '.join(WEIGHT_NAMES)}")
    value = float(value)
    if not (value > 0 if name in POSITIVE_WEIGHTS else value >= 0) or value != value or value == float("inf"):
        allowed = "a finite number > 0" if name in POSITIVE_WEIGHTS else "a finite number >= 0"
        raise ValueError(f"reward.{name}={value} is not allowed; allowed values: {allowed}")
    return value


def check_weights(weights) -> None:
    """Raise the one-line error of the first weight the reward would refuse (call at a stage's start-up)."""
    for name in WEIGHT_NAMES:
        _weight(weights, name)


def experience(judge_scores: dict | None) -> float | None:
    """Mean judge score over the criteria, mapped from 1..10 to 0..1; None when no judge scored."""
    if not judge_scores:
        return None
    values = [judge_scores[c] for c in JUDGE_CRITERIA if judge_scores.get(c) is not None]
    if not values:
        return None
    low, high = JUDGE_SCALE
    return (fmean(values) - low) / (high - low)


def score(trajectory: Trajectory, weights) -> tuple[float, dict]:
    """(reward, parts) of a finished trajectory. `weights` is a RewardConfig or a mapping with the same keys."""
    if not trajectory.finished:
        raise ValueError(f"the reward needs a finished trajectory; {trajectory.key()} has no outcome")
    return score_dialogue(dialogue_scores(trajectory), trajectory.judge_scores, weights)


def score_dialogue(d: dict, judge_scores: dict | None, weights) -> tuple[float, dict]:
    """(reward, parts) from a dialogue's stored `metrics.dialogue_scores` and judge scores: what a scoring
    step that kept only these (not the whole dialogue) needs to apply other weights."""
    w = {name: _weight(weights, name) for name in WEIGHT_NAMES}  # every weight checked, used or not
    ce_reference = w["ce_reference"]
    breaches = deal_breaches(d)
    success = bool(d["success"]) and not breaches  # a void deal recovers nothing
    cr = d["CR"] if success else 0.0
    ce_norm = min(d["CE"] / ce_reference, 1.0) if success else 0.0
    sa = float(bool(d["SA"])) if success else 0.0
    ls = float(bool(d["LS"])) if success else 0.0
    turns = d["collector_turns"]
    violation_share = d["violating_turns"] / turns if turns else 0.0
    format_error_share = d["format_error_turns"] / turns if turns else 0.0
    exp = experience(judge_scores)

    recovery = w["CR"] * cr + w["CE"] * ce_norm
    rationality = w["SA"] * sa + w["LS"] * ls
    experience_part = w["experience"] * exp if exp is not None else 0.0
    penalty = (
        w["violations"] * violation_share
        + w["format_errors"] * format_error_share
        + (w["breach"] if breaches else 0.0)
    )
    reward = recovery + rationality + experience_part - penalty
    parts = {
        "CR": cr,
        "CE_norm": ce_norm,
        "SA": sa,
        "LS": ls,
        "experience": exp,
        "violation_share": violation_share,
        "format_error_share": format_error_share,
        "breaches": list(breaches),
        "recovery": recovery,
        "rationality": rationality,
        "penalty": penalty,
    }
    return reward, parts


def score_all(trajectories, weights) -> None:
    """Set `reward` and `reward_parts` on each finished trajectory."""
    for trajectory in trajectories:
        trajectory.reward, trajectory.reward_parts = score(trajectory, weights)


def reward_spread(rewards) -> dict:
    """n, min, quartiles, mean and max of a list of rewards; None values where the list is empty."""
    values = sorted(float(r) for r in rewards if r is not None)
    if not values:
        return {"n": 0, "min": None, "q25": None, "median": None, "q75": None, "mean": None, "max": None}

    def quantile(q: float) -> float:
        return round(values[min(int(q * (len(values) - 1) + 0.5), len(values) - 1)], 4)

    return {
        "n": len(values),
        "min": round(values[0], 4),
        "q25": quantile(0.25),
        "median": quantile(0.5),
        "q75": quantile(0.75),
        "mean": round(fmean(values), 4),
        "max": round(values[-1], 4),
    }
