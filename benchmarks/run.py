"""`make bench`: every CPU benchmark in one run, each in its own process, written to benchmarks/results/cpu.md.

    python -m benchmarks.run
Ratios (batched vs one at a time, ours vs TRL's defaults) are measured side by side inside one benchmark,
so a noisy machine moves both sides together. GPU benchmarks (gpu_generation, gpu_train) run separately.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = (
    ("runner", "scripted dialogues per second through the batched runner (one core)"),
    ("hf_generation", "hf backend, tiny model: batched vs one dialogue at a time"),
    ("rollouts", "rollouts per second, dialogue-level and turn-level, scripted and hf"),
    ("hf_rollouts", "the trained SFT collector's rollouts: model.generate vs the prefix-cached path (needs make sft)"),
    ("train_throughput", "SFT and DPO against a plain PyTorch loop on the same batches, tiny model"),
    ("shared_prefix", "SFT and the recipe's DPO: shared tokens run once vs rows whole (needs make dpo)"),
    ("workers", "DebtBench of the SFT collector: one process vs one per core (needs make sft)"),
    ("lm_head", "the LM head alone: TRL's fused kernel vs plain logits, by vocabulary size"),
    ("startup", "a training stage's imports: unused libraries marked absent vs transformers' and TRL's default"),
)
RESULTS = Path(__file__).parent / "results" / "cpu.md"


def main() -> None:
    lines = [
        "# CPU benchmarks",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"run {time.strftime('%Y-%m-%d %H:%M')} with `make bench`.",
        "",
    ]
    failed = []
    for module, what in BENCHMARKS:
        print(f"bench: {module} ({what})", flush=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{module}"],
            capture_output=True,
            text=True,
            env={**os.environ, "WANDB_MODE": "disabled", "TQDM_DISABLE": "1"},
        )
        print(result.stdout, end="", flush=True)
        if result.returncode != 0:
            failed.append(module)
            print(result.stderr[-2000:], file=sys.stderr)
        lines += [
            f"## {module}: {what}",
            "",
            "```",
            result.stdout.strip() or "(no output: failed)",
            "```",
            f"({time.perf_counter() - started:.0f} s)",
            "",
        ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print(f"bench: results -> {RESULTS}")
    if failed:
        sys.exit(f"bench: failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
