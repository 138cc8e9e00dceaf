"""Rollouts per second for both kinds of rejection sampling: whole dialogues, and turn-level forward rollouts.

    python -m benchmarks.rollouts [--scenarios 128] [--hf-scenarios 4]

Dialogue level: N dialogues per scenario through the batched runner (what `make rollouts` does per shard).
Turn level: branch points of those dialogues, candidates, the heuristic judge, and every kept candidate's
forward rollouts in one runner call (what `make pairs` does per batch); its rate counts forward rollouts,
with the history replay, candidate sampling and judging included in the time. The scripted expert runs both
against the scripted debtor; with --hf-scenarios > 0, an LLM collector on the tiny model (hf backend, CPU,
short turns) does too.
"""

from __future__ import annotations

import argparse
import time


def bench_rollouts(
    collector,
    debtor,
    scenarios,
    *,
    samples: int = 4,
    max_turns: int = 20,
    num_candidates: int = 4,
    keep_top_k: int = 2,
    rollouts_per_candidate: int = 2,
    branch_points_per_dialogue: int = 2,
) -> dict:
    """{"dialogue": {...}, "turn": {...}} with counts, seconds and rollouts per second."""
    from collections import Counter

    from omegaconf import OmegaConf

    from data_gen.candidates import candidate_rows
    from data_gen.pair_sets.common import by_scenario
    from data_gen.pair_sets.dpo_turn import branch_points, turn_pair_rows
    from debtgpt.heuristic_judge import HeuristicJudge
    from debtgpt.reward import score_all
    from debtgpt.runner import DialogueJob, run_dialogues
    from pipeline.config import PairsConfig, RewardConfig

    jobs = [DialogueJob(s, k) for s in scenarios for k in range(samples)]
    start = time.perf_counter()
    trajectories = run_dialogues(jobs, collector, debtor, seed=0, max_turns=max_turns)
    score_all(trajectories, RewardConfig())
    dialogue_seconds = time.perf_counter() - start

    cfg = OmegaConf.structured(
        PairsConfig(
            num_candidates=num_candidates,
            keep_top_k=keep_top_k,
            rollouts_per_candidate=rollouts_per_candidate,
            branch_points_per_dialogue=branch_points_per_dialogue,
            progress=False,
        )
    )
    points, _ = branch_points(by_scenario(trajectories), cfg)
    stats = Counter()
    start = time.perf_counter()
    rows, dropped = turn_pair_rows(
        candidate_rows(points, cfg, collector, debtor, HeuristicJudge(), max_turns, stats), cfg
    )
    turn_seconds = time.perf_counter() - start
    return {
        "dialogue": {
            "rollouts": len(trajectories),
            "seconds": round(dialogue_seconds, 3),
            "rollouts_per_s": round(len(trajectories) / dialogue_seconds, 1),
        },
        "turn": {
            "branch_points": len(points),
            "forward_rollouts": stats["forward_rollouts"],
            "pairs": len(rows),
            "seconds": round(turn_seconds, 3),
            "rollouts_per_s": round(stats["forward_rollouts"] / turn_seconds, 1) if turn_seconds else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=128, help="scenarios for the scripted collector")
    parser.add_argument("--hf-scenarios", type=int, default=4, help="scenarios for the tiny LLM collector (0: skip)")
    parser.add_argument("--hf-max-turns", type=int, default=6)
    parser.add_argument("--hf-max-tokens", type=int, default=48)
    args = parser.parse_args()

    from debtgpt.agents.scripted import ScriptedDebtor, make_scripted_collector
    from debtgpt.scenarios import build_scenarios

    scenarios = build_scenarios(max(args.scenarios, args.hf_scenarios), seed=0)
    result = bench_rollouts(make_scripted_collector("expert"), ScriptedDebtor(), scenarios[: args.scenarios])
    print(
        f"scripted expert: dialogue level {result['dialogue']['rollouts_per_s']} rollouts/s "
        f"({result['dialogue']['rollouts']} in {result['dialogue']['seconds']} s); turn level "
        f"{result['turn']['rollouts_per_s']} forward rollouts/s ({result['turn']['forward_rollouts']} from "
        f"{result['turn']['branch_points']} branch points in {result['turn']['seconds']} s)"
    )
    if args.hf_scenarios > 0:
        from debtgpt.agents.llm_collector import LLMCollector
        from debtgpt.backends import Sampling, make_backend

        backend = make_backend({"kind": "hf", "model": "tiny", "device": "cpu"})
        collector = LLMCollector(
            backend, name="tiny", sampling=Sampling(temperature=1.0, max_tokens=args.hf_max_tokens)
        )
        result = bench_rollouts(
            collector,
            ScriptedDebtor(),
            scenarios[: args.hf_scenarios],
            samples=2,
            max_turns=args.hf_max_turns,
            num_candidates=2,
            rollouts_per_candidate=1,
            branch_points_per_dialogue=1,
        )
        print(
            f"hf tiny collector (cpu, max_tokens={args.hf_max_tokens}, max_turns={args.hf_max_turns}): dialogue level "
            f"{result['dialogue']['rollouts_per_s']} rollouts/s ({result['dialogue']['rollouts']} in "
            f"{result['dialogue']['seconds']} s); turn level {result['turn']['rollouts_per_s']} forward rollouts/s "
            f"({result['turn']['forward_rollouts']} from {result['turn']['branch_points']} branch points in "
            f"{result['turn']['seconds']} s)"
        )
        backend.close()


if __name__ == "__main__":
    main()
