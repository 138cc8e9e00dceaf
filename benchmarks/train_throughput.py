"""SFT and DPO training against a plain PyTorch loop on exactly the stage's batches (CPU, tiny model).

    python -m benchmarks.train_throughput [--steps 12] [--repeats 2] [--scenarios 16]

Each stage (the demo's recipe: SFT at batch 4; DPO with LoRA, the precomputed reference and the loss cut to the
decision, on turn-level pairs) runs three ways on the same batches: TRL's default LM head (`lm_head=fused`), the
head the stage picks (`lm_head=auto`, train/lm_head.py), and a plain loop (forward for logits, cross-entropy or the
DPO sigmoid loss, backward, AdamW) on the batches the stage's own data loader gives, with the same model and
learning rate. The three alternate their order between repeats, in one process. Times are per real (non-padding)
token, and the stage's are its `train_runtime` (the Trainer's loop, logging included). A profile (cProfile, by
function) of one run of each stage says where the time goes.

The workload is tests/workload.py's: the expert's scripted dialogues (SFT) and expert-vs-conceder turn pairs (DPO).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import tempfile
import time
from pathlib import Path

from tests.workload import SFT_SET, write_workload  # the tests' fixtures, the same workload


def run_config(kind: str, data_dir: Path, out_root: Path, steps: int, batch_size: int, **overrides):
    """A typed run config for the tiny model, as `python -m train.<kind>` would build it."""
    from omegaconf import OmegaConf

    from pipeline.config import stage_config

    base = dict(
        run=f"bench-{kind}",
        checkpoints_dir=str(out_root),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        save_steps=10**6,
        logging_steps=1,
        wandb={"mode": "disabled"},
        trl={"include_num_input_tokens_seen": "non_padding", "save_strategy": "no", "disable_tqdm": True},
    )
    inputs = dict(data=str(data_dir / SFT_SET)) if kind == "sft" else dict(pairs_dir=str(data_dir))
    return OmegaConf.merge(stage_config(kind), base, inputs, overrides)


def stage_configs(root: Path, data: Path, steps: int, batch_size: int, model: str = "tiny") -> dict:
    """The two stages as the demo runs them; DPO starts from the SFT model this benchmark saves first."""
    sft = run_config("sft", data, root, steps, batch_size, model={"name": model})
    # turn-level pairs cut to the decision like the recipe's acceptance pairs: one-turn completions, rejected rows
    # out of the loss; no held-out pairs, which would be evaluated inside the timed run
    dpo = run_config(
        "dpo",
        data,
        root,
        steps,
        batch_size,
        level="turn",
        init_from=str(root / "bench-sft" / "final"),
        heldout_fraction=0.0,
        eval_steps=None,
    )
    return {"sft": sft, "dpo": dpo}


def build(kind: str, cfg, lm_head: str, out_dir: Path):
    from omegaconf import OmegaConf

    from train.dpo import dpo_trainer
    from train.sft import sft_trainer

    cfg = OmegaConf.merge(cfg, {"lm_head": lm_head})
    return (sft_trainer if kind == "sft" else dpo_trainer)(cfg, out_dir)[0]


def stage_batches(trainer, steps: int) -> list[dict]:
    """The first `steps` batches of the stage's own data loader (epoch after epoch), on the model's device."""
    batches = []
    while len(batches) < steps:
        batches += [trainer._prepare_inputs(batch) for batch in trainer.get_train_dataloader()]
    return batches[:steps]


def plain_sft_loss(model, batch):
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    return F.cross_entropy(logits.flatten(0, 1), batch["labels"][:, 1:].flatten(), ignore_index=-100)


def plain_dpo_loss(model, batch, beta: float):
    """DPO's sigmoid loss from the logits, with the precomputed reference; rows with no token in the loss (the
    rejected half under decision_tokens=[n, 0]) are not run, as any hand-written loop would skip them."""
    import torch
    import torch.nn.functional as F

    mask = batch["completion_mask"][:, 1:]
    rows = mask.sum(1) > 0
    logits = model(input_ids=batch["input_ids"][rows], attention_mask=batch["attention_mask"][rows]).logits[:, :-1]
    token_logps = logits.log_softmax(-1).gather(-1, batch["input_ids"][rows, 1:].unsqueeze(-1)).squeeze(-1)
    logps = torch.zeros(mask.shape[0], dtype=token_logps.dtype).masked_scatter(rows, (token_logps * mask[rows]).sum(1))
    chosen, rejected = logps.chunk(2)
    margin = (chosen - batch["ref_chosen_logps"]) - (rejected - batch["ref_rejected_logps"])
    return -F.logsigmoid(beta * margin).mean()


def plain_loop(kind: str, trainer, steps: int) -> tuple[float, int]:
    """(seconds, real tokens) of forward, loss, backward and AdamW on the stage's batches."""
    import torch

    batches = stage_batches(trainer, steps)
    model = trainer.model
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=trainer.args.learning_rate,
        weight_decay=trainer.args.weight_decay,
    )
    start = time.perf_counter()
    for batch in batches:
        with trainer.accelerator.autocast():  # bf16 mixed precision where the stage uses it, as in the stage
            loss = plain_sft_loss(model, batch) if kind == "sft" else plain_dpo_loss(model, batch, trainer.args.beta)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start, int(sum(b["attention_mask"].sum() for b in batches))


def stage_loop(trainer) -> tuple[float, int]:
    """(seconds, real tokens) of the stage's Trainer loop."""
    result = trainer.train()
    return result.metrics["train_runtime"], int(trainer.state.num_input_tokens_seen)


VARIANTS = ("trl_default", "ours", "plain_loop")
HEADS = {"trl_default": "fused", "ours": "auto", "plain_loop": "auto"}


def profile_summary(kind: str, cfg, lm_head: str, root: Path, top: int = 12) -> str:
    """The functions that took the most time (their own and their callees') in one stage run."""
    trainer = build(kind, cfg, lm_head, root / f"profile-{kind}-{lm_head}")
    profiler = cProfile.Profile()
    profiler.runcall(trainer.train)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(
        r"(trl|transformers/models|train/|torch/optim|torch/autograd|torch/nn/functional)", top
    )
    lines = [line for line in text.getvalue().splitlines() if line.strip() and ("/" in line or "ncalls" in line)]
    # paths from the package or the repository root, not the machine's
    machine_paths = re.compile(r"\S*/(site-packages|dist-packages)/|" + re.escape(str(Path.cwd())) + "/")
    return "\n".join(machine_paths.sub("", line) for line in lines)


def train_throughput(
    steps: int = 12,
    batch_size: int = 4,
    n_scenarios: int = 16,
    repeats: int = 2,
    profile: bool = True,
    qwen_shape: bool = False,
) -> dict:
    """Seconds per 1,000 real tokens of each stage three ways, the ratios to the plain loop, and profiles.
    qwen_shape: Qwen2.5-0.5B's shape with random weights (benchmarks.gpu_train) instead of the tiny model."""
    os.environ.setdefault("WANDB_MODE", "disabled")
    import torch

    from train.sft import train_sft

    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = {
        "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu, {torch.get_num_threads()} threads",
        "steps": steps,
        "batch_size": batch_size,
        "repeats": repeats,
        "model": "qwen2.5-0.5b shape" if qwen_shape else "tiny",
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_workload(root / "pairs", n_scenarios)
        model = "tiny"
        if qwen_shape:
            from benchmarks.gpu_train import build_model_folder

            model = str(build_model_folder(root / "qwen-shape", tiny=False)["path"])
        configs = stage_configs(root, data, steps, batch_size, model)
        train_sft(configs["sft"], root / "bench-sft")  # the model DPO starts from
        for kind, cfg in configs.items():
            runs = {variant: [] for variant in VARIANTS}
            for repeat in range(repeats):
                order = VARIANTS[repeat % 3 :] + VARIANTS[: repeat % 3]  # each variant first in turn
                for variant in order:
                    trainer = build(kind, cfg, HEADS[variant], root / f"{kind}-{variant}-{repeat}")
                    seconds, tokens = (
                        plain_loop(kind, trainer, steps) if variant == "plain_loop" else stage_loop(trainer)
                    )
                    runs[variant].append(
                        {"seconds": round(seconds, 3), "tokens": tokens, "order": order.index(variant)}
                    )
            per_token = {v: min(r["seconds"] / r["tokens"] for r in rows) * 1000 for v, rows in runs.items()}
            results[kind] = {
                "runs": runs,
                "seconds_per_1k_tokens": {v: round(t, 4) for v, t in per_token.items()},
                "tokens_per_second": {v: round(1000 / t, 1) for v, t in per_token.items()},
                "x_plain_loop": {v: round(t / per_token["plain_loop"], 2) for v, t in per_token.items()},
            }
            if profile:
                results[kind]["profile"] = {head: profile_summary(kind, cfg, head, root) for head in ("fused", "auto")}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--scenarios", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--qwen-shape", action="store_true", help="Qwen2.5-0.5B's shape, random weights (for a GPU)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results = train_throughput(
        args.steps, args.batch_size, args.scenarios, args.repeats, not args.no_profile, args.qwen_shape
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    print(
        f"{results['model']} on {results['device']}; {results['steps']} steps of {results['batch_size']}, best of "
        f"{results['repeats']} repeats (order alternating); times per real token"
    )
    for kind in ("sft", "dpo"):
        row = results[kind]
        for variant in VARIANTS:
            print(
                f"{kind} {variant:12s} {row['tokens_per_second'][variant]:8.0f} tokens/s  "
                f"{row['x_plain_loop'][variant]:.2f}x the plain loop"
            )
    for kind in ("sft", "dpo"):
        for head, text in results[kind].get("profile", {}).items():
            print(f"\nprofile: {kind}, lm_head={head} (cumulative seconds by function)\n{text}")


if __name__ == "__main__":
    main()
