"""DebtBench: every collector against the same debtors on the test personas; metrics, leaderboard, plots.

    python -m eval.run collectors=[firm,conceder,expert] run=baseline
"""
from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from debtgpt.config import EvalConfig, register_configs

log = logging.getLogger(__name__)
register_configs()


def evaluate_collectors(cfg: EvalConfig, out_dir: str | Path) -> dict:
    """Run each collector on every scenario of the split and write the report folder."""
    from debtgpt.agents.factory import check_collector_names, make_collector, make_debtor
    from debtgpt.io import write_json, write_jsonl
    from debtgpt.metrics import evaluate
    from debtgpt.runner import DialogueJob, run_dialogues
    from debtgpt.scenarios import load_scenarios
    from eval.report import write_leaderboard, write_plots

    check_collector_names(cfg.collectors)
    if cfg.samples < 1 or cfg.max_turns < 2:
        raise ValueError(f"samples={cfg.samples} must be >= 1 and max_turns={cfg.max_turns} >= 2")
    scenarios = load_scenarios(cfg.data_dir, cfg.split)
    jobs = [DialogueJob(s, sample) for s in scenarios for sample in range(cfg.samples)]
    out = Path(out_dir)
    results = {"collectors": {}, "config": OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)}
    for name in cfg.collectors:
        collector, debtor = make_collector(name), make_debtor(cfg.debtor)
        try:
            trajectories = run_dialogues(
                jobs, collector, debtor, seed=cfg.seed, max_turns=cfg.max_turns, batch_size=cfg.batch_size,
                progress=cfg.progress, desc=f"eval {name}",
            )
        finally:
            collector.close()
            debtor.close()
        if len(trajectories) != len(jobs) or any(t is None or not t.finished for t in trajectories):
            raise RuntimeError(f"{name}: {len(jobs)} dialogues started but not all finished")
        write_jsonl(out / "trajectories" / f"{name}.jsonl", (t.to_dict() for t in trajectories))
        results["collectors"][name] = evaluate(trajectories)
        overall = results["collectors"][name]["overall"]
        log.info("%s: SR=%.3f CR=%.3f violations=%.3f", name, overall["SR"], overall["CR"], overall["violations"])
    write_json(out / "metrics.json", results)
    write_leaderboard(results, out / "leaderboard.md")
    if cfg.plots:
        write_plots(results, out / "plots")
    return results


@hydra.main(config_path="../configs", config_name="eval", version_base="1.3")
def main(cfg: EvalConfig) -> None:
    out_dir = HydraConfig.get().runtime.output_dir
    evaluate_collectors(cfg, out_dir)
    print(Path(out_dir).resolve())


if __name__ == "__main__":
    main()
