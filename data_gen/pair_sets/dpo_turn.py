"""The dpo_turn set, in three steps.

1. Candidates (data_gen/candidates.py, the expensive one, in resumable shards under <out_dir>/candidates/): at
   sampled collector turns (`branch_points`), `num_candidates` candidate turns; the judge keeps the best
   `keep_top_k` (listwise, forward and reverse summed); each kept candidate is rolled forward
   `rollouts_per_candidate` times on common random numbers.
2. Scoring: each forward rollout's reward from its stored scores and `reward`.
3. Pairing (`turn_pair_rows`, pure selection): chosen = best mean reward, rejected = worst; prompt = the shared
   history; chosen and rejected are one assistant turn each.

Ties and pairs under `margin` are dropped and counted by reason; every candidate's scores stay in the rows.
"""

from __future__ import annotations

import logging
import random
from collections import Counter

from data_gen.pair_sets.common import (
    NO_BRANCH_POINT,
    BuiltSet,
    PairInputs,
    PairSet,
    dropped_reasons,
    pair_gap_reason,
    side_features,
)
from pipeline.config import require_at_least

log = logging.getLogger(__name__)


def features():
    from datasets import Features, List, Value

    return Features(
        {
            **side_features(),
            "chosen_reward": Value("float64"),
            "rejected_reward": Value("float64"),
            "key": Value("string"),
            "branch_turn": Value("int32"),
            "candidates": List(Value("string")),  # every candidate turn (JSON text), in sampling order
            "candidate_judge_scores": List(Value("float64")),  # S_k = s_fwd + s_rev; null where unreadable
            "candidate_kept": List(Value("bool")),  # kept by the judge and rolled forward
            "candidate_rewards": List(List(Value("float64"))),  # rewards of each kept candidate's forward rollouts
            "candidate_mean_rewards": List(Value("float64")),  # null for candidates not rolled forward
            "chosen_index": Value("int32"),
            "rejected_index": Value("int32"),
        }
    )


def branch_points(groups: dict, cfg) -> tuple[list, Counter]:
    """Collector turns to branch at, drawn per dialogue from (seed, key): the greeting (turn 0) is never one."""
    from data_gen.branching import BranchPoint

    points, dropped = [], Counter()
    for group in groups.values():
        for t in sorted(group, key=lambda t: t.sample)[: cfg.branch_dialogues_per_scenario]:
            turns = [i for i in range(2, len(t.turns), 2) if t.turns[i].role == "collector"]
            if not turns:
                dropped[(t.archetype, NO_BRANCH_POINT)] += 1
                continue
            chosen = random.Random(f"{cfg.seed}/{t.key()}/branch").sample(
                turns, min(cfg.branch_points_per_dialogue, len(turns))
            )
            points += [BranchPoint(t, i) for i in sorted(chosen)]
    return points, dropped


def turn_pair_rows(candidates: list[dict], cfg) -> tuple[list[dict], Counter]:
    """Steps 2 and 3 of turn-level rejection sampling: score stored forward rollouts, pick best vs worst.

    Pure selection over `data_gen.candidates` rows: the judge's top `keep_top_k` of the candidates rolled
    forward, each candidate's mean reward under `cfg.reward`, chosen = best, rejected = worst.
    """
    from debtgpt.reward import score_dialogue

    rows, dropped = [], Counter()
    for point in candidates:
        if point["dropped"]:
            dropped[(point["archetype"], point["dropped"])] += 1
            continue
        kept = point["kept"][: cfg.keep_top_k]
        rewards = {
            c: [score_dialogue(f["scores"], f["judge_scores"], cfg.reward)[0] for f in point["forward"][str(c)]]
            for c in kept
        }
        mean = {c: sum(r) / len(r) for c, r in rewards.items()}
        order = sorted(kept, key=lambda c: (-mean[c], c))
        best, worst = order[0], order[-1]
        reason = pair_gap_reason(mean[best], mean[worst], cfg.margin)
        if reason:
            dropped[(point["archetype"], reason)] += 1
            continue
        n = len(point["candidates"])
        rows.append(
            {
                "prompt": point["prompt"],
                "chosen": [{"role": "assistant", "content": point["candidates"][best]}],
                "rejected": [{"role": "assistant", "content": point["candidates"][worst]}],
                "scenario_id": point["scenario_id"],
                "archetype": point["archetype"],
                "chosen_reward": mean[best],
                "rejected_reward": mean[worst],
                "key": point["key"],
                "branch_turn": point["branch_turn"],
                "candidates": point["candidates"],
                "candidate_judge_scores": point["judge_scores"],
                "candidate_kept": [c in kept for c in range(n)],
                "candidate_rewards": [rewards.get(c, []) for c in range(n)],
                "candidate_mean_rewards": [mean.get(c) for c in range(n)],
                "chosen_index": best,
                "rejected_index": worst,
            }
        )
    return rows, dropped


def build(inputs: PairInputs) -> BuiltSet:
    from data_gen.candidates import make_candidates

    cfg = inputs.cfg
    require_at_least(2, num_candidates=cfg.num_candidates)
    require_at_least(1, rollouts_per_candidate=cfg.rollouts_per_candidate, branch_batch_size=cfg.branch_batch_size)
    points, dropped = branch_points(inputs.groups, cfg)
    candidates, stats = make_candidates(
        points, cfg, inputs.rollouts, inputs.out / "candidates", inputs.max_turns, cfg.progress
    )
    rows, pair_dropped = turn_pair_rows(candidates, cfg)
    dropped += pair_dropped
    if stats["replay_mismatches"]:
        log.warning(
            "%d replayed turns came out differently from the rollouts (agents changed since?)",
            stats["replay_mismatches"],
        )
    forward = sum(len(f) for point in candidates for f in point["forward"].values())
    extra = {"branch_points": len(points), "judge": cfg.judge, "forward_rollouts": forward, **dict(stats)}
    summary = (
        f"pairs: dpo_turn {len(rows)} pairs from {len(points)} branch points ({forward} forward "
        f"rollouts), dropped {dropped_reasons(dropped)}"
    )
    return BuiltSet(rows, dropped, summary, extra)


def notes(card: dict) -> list[str]:
    return ["", "Rewards above are of the chosen side; card.json has the rejected side and every quantile."]


PAIR_SET = PairSet(name="dpo_turn", build=build, features=features, notes=notes)
