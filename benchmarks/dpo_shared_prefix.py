"""The recipe's DPO on the demo's own pairs: each pair's common prefix run once, against both rows run whole.

    python -m benchmarks.dpo_shared_prefix [--pairs data/pairs-sft] [--model checkpoints/sft-tiny/final]
        [--pairs-used 160] [--steps 20] [--repeats 2]

The acceptance pairs of `make dpo` share a prompt of about 1,065 tokens and part after it (75 tokens chosen,
87 rejected on average), so TRL's two rows per pair run most tokens twice. Both variants build the recipe's
trainer (`train.dpo` defaults: LoRA, the precomputed reference, both sides in the loss) on the same first
`--pairs-used` pairs, and time the reference precompute and `--steps` training steps; the order alternates between
repeats, in one process. Needs the demo's pairs and SFT model (`make dpo` builds both first).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def run(shared_prefix: bool, pairs_dir: Path, model: str, steps: int, out: Path) -> dict:
    from omegaconf import OmegaConf

    from pipeline.config import stage_config
    from train.dpo import dpo_trainer

    cfg = OmegaConf.merge(
        stage_config("dpo"),
        dict(
            pairs_dir=str(pairs_dir),
            init_from=model,
            checkpoints_dir=str(out),
            max_steps=steps,
            heldout_fraction=0.0,
            eval_steps=None,
            save_steps=10**6,
            shared_prefix=shared_prefix,
            wandb={"mode": "disabled"},
            trl={"save_strategy": "no", "disable_tqdm": True},
        ),
    )
    started = time.perf_counter()
    trainer, _ = dpo_trainer(cfg, out / "run")  # the reference log-probs are precomputed here
    reference = time.perf_counter() - started
    started = time.perf_counter()
    trainer.train()
    return {"reference": reference, "train": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="data/pairs-sft")
    parser.add_argument("--model", default="checkpoints/sft-tiny/final")
    parser.add_argument("--pairs-used", type=int, default=160)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch
    from datasets import load_from_disk

    if not (Path(args.pairs) / "dpo_accept").is_dir() or not Path(args.model).is_dir():
        raise SystemExit(f"needs {args.pairs}/dpo_accept and {args.model}: run `make dpo` first")
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "pairs"
        pairs = load_from_disk(str(Path(args.pairs) / "dpo_accept"))
        pairs.select(range(min(args.pairs_used, len(pairs)))).save_to_disk(str(subset / "dpo_accept"))
        best: dict[bool, dict] = {}
        for repeat in range(args.repeats):
            for shared in (True, False) if repeat % 2 == 0 else (False, True):
                result = run(shared, subset, args.model, args.steps, Path(tmp) / f"out-{shared}-{repeat}")
                kept = best.get(shared)
                if kept is None or result["reference"] + result["train"] < kept["reference"] + kept["train"]:
                    best[shared] = result
    print(
        f"the recipe's DPO on the first {args.pairs_used} pairs of {args.pairs}: reference precompute, then "
        f"{args.steps} steps of 4; {torch.get_num_threads()} torch threads, best of {args.repeats} (order alternating)"
    )
    whole = best[False]
    for shared, label in ((False, "both rows whole"), (True, "shared prefix once")):
        r = best[shared]
        total = r["reference"] + r["train"]
        print(
            f"{label:20s} reference {r['reference']:6.1f} s  train {r['train']:6.1f} s  total {total:6.1f} s  "
            f"{total / (whole['reference'] + whole['train']):.2f}x"
        )


if __name__ == "__main__":
    main()
