"""What a training stage pays at start-up for libraries it does not use (scikit-learn, wandb).

    python -m benchmarks.startup [--repeats 5]

Each run is a fresh Python process that imports what `train.sft` and `train.dpo` import before their first step
(TRL's trainers, transformers' model classes): once as the stages do it, with the unused libraries marked absent
(`pipeline.cli.skip_unused_imports`), once as transformers and TRL would by default. The two alternate, so a
noisy machine moves both; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from pipeline.cli import UNUSED_WHERE_MODELS_RUN

IMPORTS = "from trl import SFTConfig, SFTTrainer, DPOConfig, DPOTrainer; from transformers import AutoModelForCausalLM"
LOADED = "; import sys; print(sorted(n for n in ('sklearn', 'wandb') if sys.modules.get(n)))"


def one_start(skip: bool) -> tuple[float, str]:
    # the same marking the stages do, without Hydra's run folder around it
    mark = f"import sys; sys.modules.update(dict.fromkeys({(*UNUSED_WHERE_MODELS_RUN, 'wandb')!r})); " if skip else ""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", mark + IMPORTS + LOADED], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    one_start(True)  # warm the file cache for both
    times: dict[bool, list[float]] = {True: [], False: []}
    loaded = {}
    for repeat in range(args.repeats):
        for skip in (True, False) if repeat % 2 == 0 else (False, True):
            seconds, loaded[skip] = one_start(skip)
            times[skip].append(seconds)
    ours, default = statistics.median(times[True]), statistics.median(times[False])
    print(f"imports of a training stage, median of {args.repeats} fresh processes each:")
    print(f"  unused libraries marked absent (the stages): {ours:.2f} s, loaded {loaded[True]}")
    print(f"  transformers' and TRL's default:              {default:.2f} s, loaded {loaded[False]}")
    print(f"  saved {default - ours:.2f} s per stage start ({ours / default:.2f}x the default's time)")


if __name__ == "__main__":
    main()
