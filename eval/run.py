"""DebtBench: every collector against the same debtors on the test personas; metrics, leaderboard, plots.

    python -m eval.run collectors=[firm,conceder,expert] run=baseline
"""
from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from debtgpt.cli import run_stage, stage_errors
from debtgpt.config import EvalConfig, register_configs

log = logging.getLogger(__name__)
register_configs()


def evaluate_collectors(cfg: EvalConfig, out_dir: str | Path) -> dict:
    """Run each collector on every scenario of the split and write the report folder."""
    from debtgpt.agents.factory import AgentFactory, check_names
    from debtgpt.metrics import evaluate
    from debtgpt.reward import score_all
    from debtgpt.runner import DialogueJob, run_dialogues
    from debtgpt.scenarios import load_scenarios
    from debtgpt.leaderboard import comparison_sentence
    from eval.compare import bootstrap_difference, paired_rewards
    from eval.report import write_report

    check_names("collector", cfg.collectors)
    check_names("debtor", [cfg.debtor])
    check_names("judge", [cfg.judge])
    comparisons = [parse_comparison(spec, cfg.collectors) for spec in cfg.compare]
    if cfg.samples < 1 or cfg.max_turns < 2:
        raise ValueError(f"samples={cfg.samples} must be >= 1 and max_turns={cfg.max_turns} >= 2")
    if cfg.max_scenarios is not None and cfg.max_scenarios < 1:
        raise ValueError(f"max_scenarios={cfg.max_scenarios} must be >= 1 or null (all)")
    scenarios = load_scenarios(cfg.data_dir, cfg.split)[: cfg.max_scenarios]
    jobs = [DialogueJob(s, sample) for s in scenarios for sample in range(cfg.samples)]
    out = Path(out_dir)
    results = {"collectors": {}, "config": OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)}
    agents, by_collector = AgentFactory(), {}
    try:
        debtor, judge = agents.debtor(cfg.debtor), agents.judge(cfg.judge)
        for name in cfg.collectors:
            trajectories = run_dialogues(
                jobs, agents.collector(name), debtor, seed=cfg.seed, max_turns=cfg.max_turns,
                batch_size=cfg.batch_size, progress=cfg.progress, desc=f"eval {name}",
            )
            if len(trajectories) != len(jobs) or any(t is None or not t.finished for t in trajectories):
                raise RuntimeError(f"{name}: {len(jobs)} dialogues started but not all finished")
            if judge is not None:
                scores = judge.score(trajectories)
                for trajectory, judged in zip(trajectories, scores):
                    trajectory.judge_scores = judged
                if unread := sum(s is None for s in scores):
                    log.warning("%s: the judge's verdict on %d of %d dialogues could not be read (n/a)", name, unread, len(scores))
            score_all(trajectories, cfg.reward)
            by_collector[name] = trajectories
            results["collectors"][name] = evaluate(trajectories)
            overall = results["collectors"][name]["overall"]
            log.info("%s: SR=%.3f CR=%.3f violations=%.3f", name, overall["SR"], overall["CR"], overall["violations"])
    finally:
        agents.close()
    for a, b in comparisons:
        result = bootstrap_difference(*paired_rewards(by_collector[a], by_collector[b]), cfg.bootstrap_samples, cfg.confidence, cfg.seed)
        results.setdefault("comparisons", {})[f"{a}:{b}"] = result
        log.info(comparison_sentence(a, b, result))
    # Written once every collector is done, so a failed rerun leaves the earlier report whole.
    write_report(out, results, by_collector, plots=cfg.plots)
    return results


def parse_comparison(spec: str, collectors) -> tuple[str, str]:
    a, sep, b = spec.partition(":")
    if not sep or a not in collectors or b not in collectors or a == b:
        raise ValueError(f"compare entry {spec!r} must be 'A:B' with two different evaluated collectors; "
                         f"allowed names: {', '.join(collectors)}")
    return a, b


@hydra.main(config_path="../configs", config_name="eval", version_base="1.3")
def main(cfg: EvalConfig) -> None:
    out_dir = HydraConfig.get().runtime.output_dir
    with stage_errors():
        evaluate_collectors(cfg, out_dir)
    print(Path(out_dir).resolve())


if __name__ == "__main__":
    run_stage(main)
