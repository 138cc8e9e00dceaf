"""Tiny-model rollouts on the CPU: today's generation path against the prefix-cached one, side by side.

    python -m benchmarks.hf_rollouts [--model checkpoints/sft-tiny/final] [--dialogues 192] [--branch-points 32]

The workload is the demo's: the SFT collector, sampled hot (sft-explore: temperature 0.8, top-p 0.95, up
to 160 tokens a turn), against the scripted debtor, 20 turns at most, on 192 training scenarios (as many
dialogues as the demo's rollouts stage played until round 15: 96 scenarios x 2; it now plays 683 x 2). Two paths
of the hf backend:
- "generate": `model.generate` re-encodes each whole conversation every turn, 32 dialogues a batch (the
  path before the prefix cache; `prefix_cache_gib=0`);
- "prefix cache": each dialogue's KV cache is kept between its turns, 128 dialogues a batch.
Each path plays whole dialogues (dialogue level) and then turn-level forward rollouts (4 candidates at
each branch point, each rolled forward twice by the same collector). Both paths run in this one process
one after the other, on the same threads, so their ratio is fair on a noisy machine; a warm-up run first
pays one-off costs. Reported: dialogues/s, completion tokens/s, forward rollouts/s, and the share of
wall time spent outside the model (runner, agents, parsing, scoring).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from benchmarks.hf_generation import TimedBackend

PATHS = {
    "generate": dict(prefix_cache_gib=0, batch_size=32),
    "prefix cache": dict(prefix_cache_gib=2.0, batch_size=128),
}


def run_path(model: str, options: dict, scenarios, branch_points: int) -> dict:
    from omegaconf import OmegaConf

    from data_gen.candidates import candidate_rows
    from data_gen.pair_sets.common import by_scenario
    from data_gen.pair_sets.dpo_turn import branch_points as pick_points
    from debtgpt.agents.llm_collector import LLMCollector
    from debtgpt.agents.scripted_debtor import ScriptedDebtor
    from debtgpt.backends.base import Sampling
    from debtgpt.backends.hf import HFBackend
    from debtgpt.heuristic_judge import HeuristicJudge
    from debtgpt.reward import score_all
    from debtgpt.runner import DialogueJob, run_dialogues
    from pipeline.config import PairsConfig, RewardConfig

    timed = TimedBackend(HFBackend(model, device="cpu", **options))
    collector = LLMCollector(timed, name="sft-explore", sampling=Sampling(temperature=0.8, top_p=0.95, max_tokens=160))
    debtor = ScriptedDebtor()

    started = time.perf_counter()
    trajectories = run_dialogues([DialogueJob(s, 0) for s in scenarios], collector, debtor, seed=0, max_turns=20)
    dialogue_seconds = time.perf_counter() - started
    dialogue_model_seconds, dialogue_tokens = timed.seconds, timed.usage.completion_tokens
    score_all(trajectories, RewardConfig())

    cfg = OmegaConf.structured(
        PairsConfig(
            num_candidates=4, keep_top_k=4, rollouts_per_candidate=2, branch_points_per_dialogue=1, progress=False
        )
    )
    points = pick_points(by_scenario(trajectories), cfg)[0][:branch_points]
    stats = Counter()
    timed.seconds, timed.usage.completion_tokens = 0.0, 0
    started = time.perf_counter()
    candidate_rows(points, cfg, collector, debtor, HeuristicJudge(), 20, stats)
    turn_seconds = time.perf_counter() - started
    return {
        "dialogue_level": {
            "dialogues": len(trajectories),
            "seconds": round(dialogue_seconds, 2),
            "dialogues_per_s": round(len(trajectories) / dialogue_seconds, 3),
            "tokens_per_s": round(dialogue_tokens / dialogue_seconds, 1),
            "share_outside_model": round(1 - dialogue_model_seconds / dialogue_seconds, 3),
        },
        "turn_level": {
            "branch_points": len(points),
            "forward_rollouts": stats["forward_rollouts"],
            "seconds": round(turn_seconds, 2),
            "forward_rollouts_per_s": round(stats["forward_rollouts"] / turn_seconds, 3),
            "tokens_per_s": round(timed.usage.completion_tokens / turn_seconds, 1),
            "share_outside_model": round(1 - timed.seconds / turn_seconds, 3),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="checkpoints/sft-tiny/final")
    parser.add_argument("--data", default="data")
    parser.add_argument(
        "--dialogues", type=int, default=192
    )  # the demo's rollouts stage until round 15: 96 scenarios x 2
    parser.add_argument("--branch-points", type=int, default=32)
    args = parser.parse_args()
    if not (Path(args.model) / "config.json").is_file():
        raise SystemExit(f"no trained collector at {args.model}: run `make sft` (or `make demo`) first")
    import torch

    from debtgpt.scenarios import load_scenarios

    scenarios = load_scenarios(args.data, "train")[: args.dialogues]
    run_path(args.model, PATHS["prefix cache"], scenarios[:4], 2)  # warm-up
    results = {name: run_path(args.model, options, scenarios, args.branch_points) for name, options in PATHS.items()}
    results["threads"] = torch.get_num_threads()
    for level, rate in (("dialogue_level", "dialogues_per_s"), ("turn_level", "forward_rollouts_per_s")):
        results[f"{level}_speedup"] = round(results["prefix cache"][level][rate] / results["generate"][level][rate], 2)
    print(json.dumps(results, indent=2))
    print(
        f"prefix cache vs generate: dialogues {results['dialogue_level_speedup']}x, "
        f"forward rollouts {results['turn_level_speedup']}x ({results['threads']} threads)"
    )


if __name__ == "__main__":
    main()
