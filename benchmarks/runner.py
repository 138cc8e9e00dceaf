"""Scripted dialogues per second through the batched dialogue runner, on one core.

python -m benchmarks.runner
"""

from __future__ import annotations

import os
import time


def bench_runner(num_scenarios: int = 975, collectors=("firm", "conceder", "expert"), batch_size: int = 256) -> dict:
    from debtgpt.agents.scripted import ScriptedDebtor, make_scripted_collector
    from debtgpt.runner import DialogueJob, run_dialogues
    from debtgpt.scenarios import build_scenarios

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the issue asks
    jobs = [DialogueJob(s) for s in build_scenarios(num_scenarios, seed=0)]
    results = {}
    for name in collectors:
        start = time.perf_counter()
        trajectories = run_dialogues(jobs, make_scripted_collector(name), ScriptedDebtor(), batch_size=batch_size)
        elapsed = time.perf_counter() - start
        turns = sum(len(t.turns) for t in trajectories)
        results[name] = {
            "dialogues": len(trajectories),
            "seconds": round(elapsed, 3),
            "dialogues_per_s": round(len(trajectories) / elapsed, 1),
            "turns_per_s": round(turns / elapsed, 1),
        }
    return results


def main() -> None:
    for name, row in bench_runner().items():
        print(
            f"runner  scripted {name:9s} {row['dialogues_per_s']:8.1f} dialogues/s  "
            f"{row['turns_per_s']:9.1f} turns/s  (1 core)"
        )


if __name__ == "__main__":
    main()
