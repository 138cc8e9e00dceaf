"""Paired bootstrap of a difference in mean reward between two collectors on the same scenarios.

Dialogues are paired by (scenario, sample): both collectors met the same persona and, through common random
numbers (runner.common_stream), the same debtor dice. With several samples per scenario, the bootstrap
resamples scenarios, not dialogues: samples of one persona are not independent evidence.
"""

from __future__ import annotations

import numpy as np

from debtgpt.dialogue import Trajectory


def paired_rewards(a: list[Trajectory], b: list[Trajectory]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rewards of the dialogues both collectors played (same scenario and sample), in the same order, and
    each pair's scenario id."""
    b_by_key = {(t.scenario.id, t.sample): t.reward for t in b}
    pairs = [
        (t.reward, b_by_key[(t.scenario.id, t.sample)], t.scenario.id)
        for t in a
        if (t.scenario.id, t.sample) in b_by_key
    ]
    if not pairs or any(x is None or y is None for x, y, _ in pairs):
        raise ValueError("comparison needs rewards for dialogues both collectors played on the same scenarios")
    return np.array([x for x, _, _ in pairs]), np.array([y for _, y, _ in pairs]), [s for _, _, s in pairs]


def bootstrap_difference(
    a: np.ndarray,
    b: np.ndarray,
    scenarios: list[str] | None = None,
    samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Mean of a - b, a percentile bootstrap interval over scenarios, and the share of resamples where a > b.

    `scenarios` names each pair's scenario; resampling draws whole scenarios (None: each pair its own).
    """
    if samples < 100 or not 0 < confidence < 1:
        raise ValueError(f"bootstrap_samples={samples} must be >= 100 and confidence={confidence} in (0, 1)")
    diff = a - b
    groups = scenarios if scenarios is not None else list(range(len(diff)))
    index = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    codes = np.array([index[g] for g in groups])
    sums, counts = np.bincount(codes, weights=diff), np.bincount(codes)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(index), size=(samples, len(index)))
    means = sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {
        "n": int(len(diff)),
        "scenarios": len(index),
        "half_width": float((high - low) / 2),
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "difference": float(diff.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "confidence": confidence,
        "share_a_better": float((means > 0).mean()),
    }
