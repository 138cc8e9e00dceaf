"""Rejection sampling: the SFT set and DPO pairs, at dialogue level (MADeN), turn level (DebtGPT) and acceptance level.

    python -m data_gen.pairs rollouts_dir=data/rollouts/expert out_dir=data/pairs
    python -m data_gen.pairs sets=[dpo_turn] num_candidates=4 keep_top_k=2 rollouts_per_candidate=2

Reads the rollouts of `make rollouts` and writes, under <out_dir>/<set>/ for each set `sets` names, a Hugging
Face dataset (`datasets.load_from_disk`), the same rows as <set>.parquet, and a card (README.md, card.json).
Column contract (TRL): sft has `messages`; the DPO sets have conversational `prompt`, `chosen`, `rejected`.

Each set is a module of data_gen/pair_sets/, listed in its registry (`PAIR_SETS`), which this command loops over:
- sft (pair_sets/sft.py): the collector's side of the best successful trajectories per scenario.
- dpo_dialogue (pair_sets/dpo_dialogue.py): best vs worst whole dialogue of a scenario.
- dpo_turn (pair_sets/dpo_turn.py): best vs worst candidate turn at sampled branch points, valued by forward
  rollouts (the candidates in resumable shards under <out_dir>/candidates/, data_gen/candidates.py).
- dpo_accept (pair_sets/dpo_accept.py): the teacher's decision against the collector's own, one turn at a time.
Every set's rewards are the rollouts' scored again with this stage's `reward`; every card counts what was dropped
and why (pair_sets/cards.py), and the sets of one run are written as one unit (pair_sets/swap.py).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import OmegaConf

from data_gen.pair_sets import PAIR_SETS, SETS, PairInputs
from data_gen.pair_sets.cards import set_card
from data_gen.pair_sets.common import by_scenario
from data_gen.pair_sets.swap import write_sets
from pipeline.cli import run_stage, stage_errors
from pipeline.config import PairsConfig, register_configs

register_configs()


def make_pairs(cfg: PairsConfig) -> dict:
    """Build the configured sets; returns {set: card}."""
    from data_gen.shards import load_rollouts
    from debtgpt.reward import check_weights, score_all

    unknown = [s for s in cfg.sets if s not in SETS]
    if unknown or not cfg.sets:
        raise ValueError(f"sets={list(cfg.sets)} is not allowed; allowed values: any of {', '.join(SETS)}")
    if cfg.sft_top_k < 1 or cfg.margin < 0 or not 2 <= cfg.keep_top_k <= cfg.num_candidates:
        raise ValueError(
            f"need sft_top_k >= 1 (got {cfg.sft_top_k}), margin >= 0 (got {cfg.margin}) and "
            f"2 <= keep_top_k <= num_candidates (got {cfg.keep_top_k}, {cfg.num_candidates})"
        )
    check_weights(cfg.reward)
    config = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True) if not isinstance(cfg, dict) else cfg
    trajectories, rollouts = load_rollouts(cfg.rollouts_dir)
    # One reward for every set: the rollouts' stored rewards are recomputed with this stage's weights (the
    # reward is a function of the finished dialogue), so changing a weight never means generating again.
    score_all(trajectories, cfg.reward)
    groups = by_scenario(trajectories)
    out = Path(cfg.out_dir)
    print(f"pairs: {len(trajectories)} trajectories of {len(groups)} scenarios from {cfg.rollouts_dir} -> {out}")
    inputs = PairInputs(cfg=cfg, groups=groups, max_turns=rollouts["max_turns"], rollouts=rollouts, out=out)
    source = {"rollouts": {"dir": cfg.rollouts_dir, "collector": rollouts["collector"], "seed": rollouts["seed"]}}
    cards, staged = {}, {}
    for name, pair_set in PAIR_SETS.items():  # the registry's order, whatever the order of `sets`
        if name not in cfg.sets:
            continue
        built = pair_set.build(inputs)
        cards[name] = set_card(name, built.rows, built.dropped, groups, config, {**source, **built.extra})
        staged[name] = built.rows
        print(built.summary)
    write_sets(out, staged, cards)
    print(f"pairs: {', '.join(staged)} -> {out}")
    return cards


@hydra.main(config_path="../configs", config_name="pairs", version_base="1.3")
def main(cfg: PairsConfig) -> None:
    with stage_errors(cfg, PairsConfig):
        make_pairs(cfg)


if __name__ == "__main__":
    run_stage(main)
