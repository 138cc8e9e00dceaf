"""SFT and the recipe's DPO on the demo's own data, with the tokens that rows share run once or run whole.

    python -m benchmarks.shared_prefix [--sft-data data/pairs/sft] [--pairs data/pairs-sft]
        [--model checkpoints/sft-tiny/final] [--pairs-used 160] [--steps 20] [--repeats 2]

Every collector row opens with the same system prompt (about 530 tokens), and a DPO pair's two rows share their
prompt (about 1,020 tokens, against 82 chosen and 92 rejected). Variants (train/shared_prefix.py):
- rows whole: `shared_prefix=false`;
- each pair's prefix once (DPO only), the batch's common start run per row;
- the batch's common start once too (`shared_prefix=true`, the default).
DPO builds the recipe's trainer (`train.dpo` defaults) on the first `--pairs-used` pairs and times the reference
precompute and `--steps` steps; SFT times `--steps` steps of `train.sft`'s defaults. Variants alternate their order
between repeats, in one process; the best of `--repeats` is kept. Needs the demo's data and SFT model (`make dpo`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import train.shared_prefix

VARIANTS = {
    "sft": ("rows whole", "batch start once"),
    "dpo": ("rows whole", "each pair's prefix once", "pair prefix + batch start once"),
}


@contextmanager
def variant(label: str):
    """`shared_prefix` for the variant; the batch's common start left per row by raising its minimum."""
    kept = train.shared_prefix.MIN_BATCH_PREFIX
    if label == "each pair's prefix once":
        train.shared_prefix.MIN_BATCH_PREFIX = 10**9
    try:
        yield label != "rows whole"
    finally:
        train.shared_prefix.MIN_BATCH_PREFIX = kept


def common_settings(out: Path, steps: int) -> dict:
    return dict(
        checkpoints_dir=str(out),
        max_steps=steps,
        save_steps=10**6,
        wandb={"mode": "disabled"},
        trl={"save_strategy": "no", "disable_tqdm": True},
    )


def run_dpo(label: str, pairs_dir: Path, model: str, steps: int, out: Path) -> dict:
    from omegaconf import OmegaConf

    from pipeline.config import stage_config
    from train.dpo import dpo_trainer

    with variant(label) as shared:
        cfg = OmegaConf.merge(
            stage_config("dpo"),
            dict(
                pairs_dir=str(pairs_dir),
                init_from=model,
                heldout_fraction=0.0,
                eval_steps=None,
                shared_prefix=shared,
                **common_settings(out, steps),
            ),
        )
        started = time.perf_counter()
        trainer, _ = dpo_trainer(cfg, out / "run")  # the reference log-probs are precomputed here
        reference = time.perf_counter() - started
        started = time.perf_counter()
        trainer.train()
        return {"reference": reference, "train": time.perf_counter() - started}


def run_sft(label: str, data: Path, steps: int, out: Path) -> dict:
    from omegaconf import OmegaConf

    from pipeline.config import stage_config
    from train.sft import sft_trainer

    with variant(label) as shared:
        cfg = OmegaConf.merge(
            stage_config("sft"), dict(data=str(data), shared_prefix=shared, **common_settings(out, steps))
        )
        trainer, _ = sft_trainer(cfg, out / "run")
        started = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - started
        return {"train": elapsed, "tokens": trainer._total_train_tokens}  # TRL's count: every row's tokens


def timed(result: dict) -> float:
    return sum(seconds for name, seconds in result.items() if name != "tokens")


def alternating(labels, repeats: int, run) -> dict:
    """The best (least total time) result of each label over `repeats`, the order reversed every other repeat."""
    best: dict[str, dict] = {}
    for repeat in range(repeats):
        for label in labels if repeat % 2 == 0 else tuple(reversed(labels)):
            result = run(label, repeat)
            if label not in best or timed(result) < timed(best[label]):
                best[label] = result
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sft-data", default="data/pairs/sft")
    parser.add_argument("--pairs", default="data/pairs-sft")
    parser.add_argument("--model", default="checkpoints/sft-tiny/final")
    parser.add_argument("--pairs-used", type=int, default=160)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch
    from datasets import load_from_disk

    needed = (Path(args.pairs) / "dpo_accept", Path(args.sft_data), Path(args.model))
    if not all(path.is_dir() for path in needed):
        raise SystemExit(f"needs {', '.join(map(str, needed))}: run `make dpo` first")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pairs = load_from_disk(str(Path(args.pairs) / "dpo_accept"))
        pairs = pairs.select(range(min(args.pairs_used, len(pairs))))

        def subset(label: str, repeat: int) -> Path:
            # a copy per run: TRL caches the reference log-probs beside the data set it computed them for
            folder = tmp / f"pairs-{VARIANTS['dpo'].index(label)}-{repeat}"
            pairs.save_to_disk(str(folder / "dpo_accept"))
            return folder

        sft = alternating(
            VARIANTS["sft"],
            args.repeats,
            lambda label, r: run_sft(label, Path(args.sft_data), args.steps, tmp / f"s{r}"),
        )
        dpo = alternating(
            VARIANTS["dpo"],
            args.repeats,
            lambda label, r: run_dpo(label, subset(label, r), args.model, args.steps, tmp / f"d{r}"),
        )
    print(f"{torch.get_num_threads()} torch threads, best of {args.repeats}, order alternating, one process")
    print(f"SFT: {args.steps} steps of 4 dialogues of {args.sft_data}")
    for label in VARIANTS["sft"]:
        r = sft[label]
        print(
            f"  {label:32s} train {r['train']:6.1f} s  {r['train'] / sft['rows whole']['train']:.2f}x  "
            f"{r['tokens'] / r['train']:,.0f} SFT tokens/s (TRL's count of the rows' tokens)"
        )
    print(
        f"DPO (the recipe): reference precompute over the first {args.pairs_used} pairs, then {args.steps} steps of 4"
    )
    whole = sum(dpo["rows whole"].values())
    for label in VARIANTS["dpo"]:
        r = dpo[label]
        total = r["reference"] + r["train"]
        print(
            f"  {label:32s} reference {r['reference']:6.1f} s  train {r['train']:6.1f} s  total {total:6.1f} s  "
            f"{total / whole:.2f}x"
        )


if __name__ == "__main__":
    main()
