"""Paired bootstrap of a difference in mean reward between two collectors on the same scenarios."""
from __future__ import annotations

import numpy as np

from debtgpt.dialogue import Trajectory


def paired_rewards(a: list[Trajectory], b: list[Trajectory]) -> tuple[np.ndarray, np.ndarray]:
    """Rewards of the dialogues both collectors played (same scenario and sample), in the same order."""
    b_by_key = {(t.scenario.id, t.sample): t.reward for t in b}
    pairs = [(t.reward, b_by_key[(t.scenario.id, t.sample)]) for t in a if (t.scenario.id, t.sample) in b_by_key]
    if not pairs or any(x is None or y is None for x, y in pairs):
        raise ValueError("comparison needs rewards for dialogues both collectors played on the same scenarios")
    return np.array([x for x, _ in pairs]), np.array([y for _, y in pairs])


def bootstrap_difference(a: np.ndarray, b: np.ndarray, samples: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict:
    """Mean of a - b, a percentile bootstrap interval over scenarios, and the share of resamples where a > b."""
    if samples < 100 or not 0 < confidence < 1:
        raise ValueError(f"bootstrap_samples={samples} must be >= 100 and confidence={confidence} in (0, 1)")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {
        "n": int(len(diff)),
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "difference": float(diff.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "confidence": confidence,
        "share_a_better": float((means > 0).mean()),
    }
