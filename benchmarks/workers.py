"""DebtBench's dialogues of a trained collector in one process against one process per core (debtgpt/workers.py).

    python -m benchmarks.workers [--collector sft] [--data data] [--split test] [--samples 2] [--repeats 2]

One process runs torch on every core; `workers` processes run one share each and play every workers-th dialogue.
Both play the same jobs with the same seed, the order alternating between repeats, the best of `--repeats` kept,
and the trajectories are compared (they must be the same). Needs the demo's data and model (`make sft`).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collector", default="sft")
    parser.add_argument("--data", default="data")
    parser.add_argument("--split", default="test")
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()

    import torch

    from debtgpt.agents.factory import AgentFactory, check_agents
    from debtgpt.runner import DialogueJob, run_dialogues
    from debtgpt.scenarios import load_scenarios
    from debtgpt.workers import cpu_cores, play_jobs_in_workers, worker_count
    from pipeline.config import EvalConfig

    workers = worker_count(0, check_agents([options.collector], ["scripted"]))
    if workers < 2:
        raise SystemExit(f"{options.collector!r} on {cpu_cores()} core(s) plays in one process: nothing to compare")
    scenarios = load_scenarios(options.data, options.split)
    jobs = [DialogueJob(s, sample) for s in scenarios for sample in range(options.samples)]
    eval_settings = EvalConfig()  # what `make eval` plays with
    settings = dict(seed=0, max_turns=eval_settings.max_turns, batch_size=eval_settings.batch_size)

    def alone():
        agents = AgentFactory()
        try:
            return run_dialogues(jobs, agents.collector(options.collector), agents.debtor("scripted"), **settings)
        finally:
            agents.close()

    def shared():
        return play_jobs_in_workers(jobs, options.collector, "scripted", workers=workers, **settings)

    variants = {f"one process, {torch.get_num_threads()} torch threads": alone, f"{workers} processes": shared}
    best, played = {}, {}
    for repeat in range(options.repeats):
        for name in list(variants) if repeat % 2 == 0 else list(variants)[::-1]:
            started = time.perf_counter()
            played[name] = [t.to_dict() for t in variants[name]()]
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
    first, second = variants
    print(f"{len(jobs)} DebtBench dialogues of {options.collector}, scripted debtor, best of {options.repeats}:")
    for name, seconds in best.items():
        print(f"  {name}: {seconds:.1f} s ({len(jobs) / seconds:.1f} dialogues/s)")
    print(f"  ratio: {best[second] / best[first]:.2f}x the time in {workers} processes")
    print(f"  the same trajectories: {'yes' if played[first] == played[second] else 'NO'}")


if __name__ == "__main__":
    main()
