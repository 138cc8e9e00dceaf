"""The rejection-sampling reward (DESIGN.md section 4, ours): what one finished dialogue is worth.

    reward = w_CR * CR + w_CE * CE_norm            (recovery)
           + w_SA * SA + w_LS * LS                 (rationality)
           + w_experience * experience             (judge, only when a judge scored the dialogue)
           - w_violations * violation_share        (discipline)
           - w_format_errors * format_error_share  (hygiene)

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

from debtgpt.constants import JUDGE_CRITERIA, POLICY_DEFAULT_CE  # noqa: F401  (POLICY_DEFAULT_CE: the default ce_reference)
from debtgpt.dialogue import Trajectory
from debtgpt.metrics import dialogue_scores

JUDGE_SCALE = (1.0, 10.0)
WEIGHT_NAMES = ("CR", "CE", "SA", "LS", "experience", "violations", "format_errors")


def _weight(weights, name: str) -> float:
    value = weights.get(name) if isinstance(weights, dict) else getattr(weights, name, None)
    if value is None:
        raise ValueError(f"reward weight {name!r} is missing; the reward needs: {', '.join(WEIGHT_NAMES)}")
    return float(value)


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
    ce_reference = _weight(weights, "ce_reference")
    if ce_reference <= 0:
        raise ValueError(f"reward ce_reference={ce_reference} must be > 0")
    success = bool(d["success"])
    cr = d["CR"] if success else 0.0
    ce_norm = min(d["CE"] / ce_reference, 1.0) if success else 0.0
    sa = float(bool(d["SA"])) if success else 0.0
    ls = float(bool(d["LS"])) if success else 0.0
    turns = d["collector_turns"]
    violation_share = d["violating_turns"] / turns if turns else 0.0
    format_error_share = d["format_error_turns"] / turns if turns else 0.0
    exp = experience(judge_scores)

    recovery = _weight(weights, "CR") * cr + _weight(weights, "CE") * ce_norm
    rationality = _weight(weights, "SA") * sa + _weight(weights, "LS") * ls
    experience_part = _weight(weights, "experience") * exp if exp is not None else 0.0
    penalty = _weight(weights, "violations") * violation_share + _weight(weights, "format_errors") * format_error_share
    reward = recovery + rationality + experience_part - penalty
    parts = {
        "CR": cr,
        "CE_norm": ce_norm,
        "SA": sa,
        "LS": ls,
        "experience": exp,
        "violation_share": violation_share,
        "format_error_share": format_error_share,
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
