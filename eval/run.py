"""DebtBench: every collector against the same debtors on the test personas; metrics, leaderboard, plots.

python -m eval.run collectors=[firm,conceder,expert] run=baseline
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from pipeline.cli import StageError, run_stage, skip_unused_imports, stage_errors
from pipeline.config import EvalConfig, register_configs, require_at_least

log = logging.getLogger(__name__)
register_configs()


def evaluate_collectors(cfg: EvalConfig, out_dir: str | Path) -> dict:
    """Run each collector on every scenario of the split and write the report folder."""
    from debtgpt.agents.factory import AgentFactory, check_agents
    from debtgpt.leaderboard import comparison_sentence, fmt
    from debtgpt.metrics import evaluate
    from debtgpt.provenance import collector_fingerprint
    from debtgpt.reward import check_weights, score_all
    from debtgpt.runner import DialogueJob, run_dialogues
    from debtgpt.scenarios import load_scenarios
    from debtgpt.workers import AgentsNotBuilt, play_jobs_in_workers, worker_count
    from eval.compare import bootstrap_difference, paired_rewards
    from eval.report import write_report

    check_agents(cfg.collectors, [cfg.debtor], [cfg.judge])  # every agent can run before the first dialogue
    # processes per collector: several where it or the debtor runs a model on this CPU (debtgpt/workers.py)
    workers_of = {name: worker_count(cfg.workers, check_agents([name], [cfg.debtor])) for name in cfg.collectors}
    check_weights(cfg.reward)
    compare, explain, curves = recipe_defaults(cfg)
    comparisons = [parse_comparison(spec, cfg.collectors) for spec in compare]
    explained = parse_comparison(explain, cfg.collectors) if explain else None
    require_at_least(1, samples=cfg.samples, batch_size=cfg.batch_size, bootstrap_samples=cfg.bootstrap_samples)
    require_at_least(2, max_turns=cfg.max_turns)
    if cfg.max_scenarios is not None:
        require_at_least(1, max_scenarios=cfg.max_scenarios)
    if not 0 < cfg.confidence < 1:
        raise ValueError(f"confidence={cfg.confidence} must be between 0 and 1 (e.g. 0.95)")
    scenarios = load_scenarios(cfg.data_dir, cfg.split)[: cfg.max_scenarios]
    jobs = [DialogueJob(s, sample) for s in scenarios for sample in range(cfg.samples)]
    out = Path(out_dir)
    results = {"collectors": {}, "config": OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)}
    agents, by_collector, not_built = AgentFactory(), {}, None
    try:
        judge, debtor = agents.judge(cfg.judge), None

        settings = dict(seed=cfg.seed, max_turns=cfg.max_turns, batch_size=cfg.batch_size, progress=cfg.progress)

        def play(name: str) -> list:
            nonlocal debtor
            if workers_of[name] > 1:  # each worker process builds its own agents
                return play_jobs_in_workers(
                    jobs, name, cfg.debtor, workers=workers_of[name], desc=f"eval {name}", **settings
                )
            try:
                collector = agents.collector(name)
            except Exception as exc:
                raise AgentsNotBuilt(f"collector {name!r} could not be built ({type(exc).__name__}: {exc})") from exc
            debtor = debtor or agents.debtor(cfg.debtor)
            return run_dialogues(jobs, collector, debtor, desc=f"eval {name}", **settings)

        for name in cfg.collectors:
            try:
                trajectories = play(name)
            except AgentsNotBuilt as exc:  # e.g. a Hub model not reachable offline: keep the collectors already run
                not_built = f"{exc}; the report holds the collectors before it"
                break
            if len(trajectories) != len(jobs) or any(t is None or not t.finished for t in trajectories):
                raise RuntimeError(f"{name}: {len(jobs)} dialogues started but not all finished")
            if judge is not None:
                scores = judge.score(trajectories)
                for trajectory, judged in zip(trajectories, scores):
                    trajectory.judge_scores = judged
                if unread := sum(s is None for s in scores):
                    log.warning(
                        "%s: the judge's verdict on %d of %d dialogues could not be read (n/a)",
                        name,
                        unread,
                        len(scores),
                    )
            score_all(trajectories, cfg.reward)
            by_collector[name] = trajectories
            results["collectors"][name] = evaluate(trajectories)
            # which weights these numbers belong to: publish refuses to put them on another checkpoint's card
            results["collectors"][name]["weights"] = collector_fingerprint(name)
            overall = results["collectors"][name]["overall"]
            log.info(
                "%s: SR=%s CR=%s violations=%s agent errors=%s",
                name,
                *(fmt(overall[m]) for m in ("SR", "CR", "violations", "agent_errors")),
            )
    finally:
        agents.close()
    for a, b in comparisons:
        if a not in by_collector or b not in by_collector:
            continue
        result = bootstrap_difference(
            *paired_rewards(by_collector[a], by_collector[b]), cfg.bootstrap_samples, cfg.confidence, cfg.seed
        )
        results.setdefault("comparisons", {})[f"{a}:{b}"] = result
        log.info(comparison_sentence(a, b, result))
    # Written once every collector is done, so a failed rerun leaves the earlier report whole.
    write_report(out, results, by_collector, plots=cfg.plots)
    if explained and set(explained) <= set(by_collector):
        from eval.changes import write_changes

        write_changes(out, results, *explained, curves)
    if not_built:
        raise StageError(not_built)
    failed = [
        name for name, result in results["collectors"].items() if result["n"] and result["n_errors"] == result["n"]
    ]
    if failed:
        first = next(t.error for t in by_collector[failed[0]] if t.error)
        raise StageError(
            f"every dialogue of {', '.join(failed)} failed, so it has no scores (report in {out}); "
            f"first error: {first}"
        )
    return results


# What an eval of the recipe's collectors compares and explains, unless compare, explain and curves are given.
RECIPE_COMPARISONS = ("dpo:sft", "sft:untrained", "dpo:expert")
RECIPE_EXPLAIN, RECIPE_CURVES = "dpo:sft", "checkpoints/dpo-tiny"
AUTO = "auto"


def recipe_defaults(cfg) -> tuple[list[str], str | None, str | None]:
    """compare, explain and curves: as given, or for `compare=null`, `explain=auto` and `curves=auto` the recipe's
    among the evaluated collectors, so `collectors=[firm,expert]` alone compares nothing rather than failing."""
    evaluated = set(cfg.collectors)
    both = lambda spec: set(spec.split(":")) <= evaluated  # noqa: E731
    compare = list(cfg.compare) if cfg.compare is not None else [c for c in RECIPE_COMPARISONS if both(c)]
    explain = (RECIPE_EXPLAIN if both(RECIPE_EXPLAIN) else None) if cfg.explain == AUTO else cfg.explain
    curves = (RECIPE_CURVES if explain == RECIPE_EXPLAIN else None) if cfg.curves == AUTO else cfg.curves
    return compare, explain, curves


def parse_comparison(spec: str, collectors) -> tuple[str, str]:
    a, sep, b = spec.partition(":")
    if not sep or a not in collectors or b not in collectors or a == b:
        raise ValueError(
            f"compare entry {spec!r} must be 'A:B' with two different evaluated collectors; "
            f"allowed names: {', '.join(collectors)}"
        )
    return a, b


@hydra.main(config_path="../configs", config_name="eval", version_base="1.3")
def main(cfg: EvalConfig) -> None:
    out_dir = HydraConfig.get().runtime.output_dir
    with stage_errors(cfg, EvalConfig):
        skip_unused_imports(wandb_used=False)
        evaluate_collectors(cfg, out_dir)
    print(Path(out_dir).resolve())


if __name__ == "__main__":
    run_stage(main)
