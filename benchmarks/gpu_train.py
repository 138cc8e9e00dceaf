"""Our SFT and DPO settings against TRL's defaults on a GPU, like for like: tokens/s, peak memory and MFU.

    python -m benchmarks.gpu_train                                            # Qwen2.5-0.5B shape, CUDA
    python -m benchmarks.gpu_train --device cpu --tiny --steps 2 --repeats 1  # smoke run of the same code

Model: Qwen2.5-0.5B's shape with random weights and the tiny model's tokenizer (benchmarks.qwen25_shape).
Data: tests/workload.py's workload (expert dialogues; expert vs conceder turn pairs) with every
message resized to its Qwen2.5 token estimate, 4 characters per token unless --chars-per-token says
otherwise (the estimate and its source are in benchmarks/qwen25_shape.py).

The two sides share the model, the data, the batch size, the number of steps and, for DPO, LoRA:
- ours: train.sft / train.dpo as configured: bf16 where the GPU has it, max_length measured (nothing
  truncated), no gradient checkpointing, loss on the collector's turns (SFT), pinned memory;
- trl_defaults: SFTConfig()/DPOConfig() as they come otherwise: max_length=1024 (longer examples lose their
  end), gradient checkpointing on, loss on every token (SFT).
SFT is full fine-tuning on both sides; DPO is LoRA on both (our LoraConfig, reference = adapters off).

Fairness: each side first trains --warmup-steps untimed (CUDA context, kernels, allocator); the timed runs
then alternate the order (ours first in even repeats, TRL's first in odd ones), and each side reports every
repeat and the median. tokens/s: the trainer's count of non-padding input tokens over its train_runtime
(prompt plus chosen and prompt plus rejected for DPO). Peak memory: torch.cuda.max_memory_allocated in the
run. MFU: benchmarks.mfu. Writes benchmarks/results/gpu_train.json (or --out) with the GPU's name.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.qwen25_shape import QWEN25_CHARS_PER_TOKEN

SIDES = ("ours", "trl_defaults")


def build_model_folder(out: Path, tiny: bool) -> dict:
    """A random-weight Qwen2.5-0.5B-shaped model (or the tiny one) with the tiny tokenizer, saved by path."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from benchmarks.qwen25_shape import qwen_shaped_model
    from debtgpt.tiny import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("tiny"))
    model = AutoModelForCausalLM.from_pretrained(resolve_model("tiny")) if tiny else qwen_shaped_model(tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {
        "path": out,
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": model.config.num_hidden_layers,
        "width": model.config.hidden_size,
    }


def trl_defaults_sft(model_dir: Path, data: Path, out: Path, steps: int, batch_size: int, use_cpu: bool, lora):
    from datasets import load_from_disk
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        report_to="none",
        save_strategy="no",
        include_num_input_tokens_seen="non_padding",
        use_cpu=use_cpu,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(model=str(model_dir), args=args, train_dataset=load_from_disk(str(data / "sft")))
    trainer.train()
    return trainer


def trl_defaults_dpo(model_dir: Path, data: Path, out: Path, steps: int, batch_size: int, use_cpu: bool, lora):
    from datasets import load_from_disk
    from trl import DPOConfig, DPOTrainer

    pairs = load_from_disk(str(data / "dpo_turn")).select_columns(["prompt", "chosen", "rejected"])
    args = DPOConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        report_to="none",
        save_strategy="no",
        include_num_input_tokens_seen="non_padding",
        use_cpu=use_cpu,
        disable_tqdm=True,
    )
    trainer = DPOTrainer(model=str(model_dir), args=args, train_dataset=pairs, peft_config=lora)
    trainer.train()
    return trainer


def ours(kind: str, model_dir: Path, data: Path, out: Path, steps: int, batch_size: int, use_cpu: bool):
    from train.dpo import train_dpo
    from train.sft import train_sft

    cfg = our_config(kind, model_dir, data, out.parent, steps, batch_size, use_cpu)
    return (train_sft if kind == "sft" else train_dpo)(cfg, out)["trainer"]


def our_config(kind: str, model_dir: Path, data: Path, root: Path, steps: int, batch_size: int, use_cpu: bool):
    from benchmarks.train_throughput import run_config

    overrides = {"model": {"name": str(model_dir)}, "trl": {"use_cpu": use_cpu}}
    if kind == "dpo":
        # the SFT model of this benchmark is the random model itself; the workload's turn-level pairs, as TRL's side
        # trains on (the recipe's acceptance pairs are one-turn completions too), and no held-out pairs, which would
        # be evaluated inside the timed run
        overrides.update(init_from=str(model_dir), level="turn", heldout_fraction=0.0, eval_steps=None)
    return run_config(kind, data, root, steps, batch_size, **overrides)


def measure(run, kind: str, model: dict, peak: float | None) -> dict:
    """Run one training; tokens/s from the trainer's own token count, peak GPU memory, and MFU."""
    import torch

    from benchmarks.mfu import forward_flops_per_token, mfu, training_passes

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = run()
    runtime = trainer.state.log_history[-1]["train_runtime"]
    tokens = int(trainer.state.num_input_tokens_seen)
    lora = hasattr(trainer.model, "peft_config")
    reference = kind == "dpo" and not trainer.args.precompute_ref_log_probs
    # sequences trained: every example of every step (a DPO example is two: chosen and rejected)
    sequences = (
        trainer.state.global_step * trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps
    )
    mean_sequence = tokens / (sequences * (2 if kind == "dpo" else 1))
    flops = training_passes(lora, reference) * forward_flops_per_token(
        model["parameters"], model["layers"], model["width"], mean_sequence
    )
    row = {
        "tokens": tokens,
        "train_seconds": round(runtime, 3),
        "tokens_per_second": round(tokens / runtime, 1),
        "max_memory_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3)
        if torch.cuda.is_available()
        else None,
        "mfu": mfu(tokens / runtime, flops, peak),
        "mean_sequence": round(mean_sequence, 1),
        "max_length": trainer.args.max_length,
        "bf16": trainer.args.bf16,
        "gradient_checkpointing": trainer.args.gradient_checkpointing,
        "lora": lora,
        "reference": None
        if kind == "sft"
        else "precomputed"
        if not reference
        else "adapters off"
        if getattr(trainer, "ref_model", None) is None
        else "a second copy",
    }
    del trainer
    gc.collect()
    return row


def length_report(model_dir: Path, data: Path, limit: int) -> dict:
    """Token lengths of the (Qwen2.5-shaped) workload, and how many examples TRL's default max_length would cut."""
    from datasets import load_from_disk

    from train.data import pair_lengths, sft_lengths
    from train.model_loading import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    report = {}
    for name, measure_lengths in (("sft", sft_lengths), ("dpo_turn", pair_lengths)):
        lengths = sorted(measure_lengths(tokenizer, load_from_disk(str(data / name))))
        report[name] = {
            "examples": len(lengths),
            "median": lengths[len(lengths) // 2],
            "p95": lengths[int(0.95 * (len(lengths) - 1))],
            "longest": lengths[-1],
            f"longer_than_{limit}": sum(n > limit for n in lengths),
        }
    return report


def summarise(runs: list[dict]) -> dict:
    mfus = [r["mfu"] for r in runs if r["mfu"] is not None]
    memory = [r["max_memory_allocated_gib"] for r in runs if r["max_memory_allocated_gib"] is not None]
    return {
        "median_tokens_per_second": round(statistics.median(r["tokens_per_second"] for r in runs), 1),
        "median_mfu": round(statistics.median(mfus), 4) if mfus else None,
        "max_memory_allocated_gib": max(memory) if memory else None,
        "runs": runs,
    }


def gpu_train(
    device: str,
    tiny: bool,
    steps: int,
    batch_size: int,
    n_scenarios: int,
    repeats: int,
    warmup_steps: int,
    chars_per_token: float,
    peak_override: float | None,
) -> dict:
    os.environ.setdefault("WANDB_MODE", "disabled")
    import torch

    from benchmarks.mfu import peak_tflops
    from benchmarks.qwen25_shape import reshape_workload
    from tests.workload import write_workload
    from train.model_loading import load_tokenizer, lora_config

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA GPU here; use --device cpu --tiny for the smoke run")
    use_cpu = device == "cpu"
    device_name = "cpu" if use_cpu else torch.cuda.get_device_name()
    peak = peak_tflops(device_name, peak_override)
    results = {
        "device": device_name,
        "peak_bf16_tflops": peak,
        "model": "tiny" if tiny else "Qwen2.5-0.5B shape (random weights)",
        "chars_per_token": chars_per_token,
        "steps": steps,
        "batch_size": batch_size,
        "scenarios": n_scenarios,
        "repeats": repeats,
        "warmup_steps": warmup_steps,
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = build_model_folder(root / "model", tiny)
        data = write_workload(root / "pairs", n_scenarios)
        reshape_workload(data, load_tokenizer(str(model["path"])), chars_per_token)
        results["parameters"] = model["parameters"]
        results["lengths"] = length_report(model["path"], data, 1024)
        for kind in ("sft", "dpo"):
            # DPO like for like: TRL's side gets exactly our LoraConfig
            lora = (
                lora_config(our_config(kind, model["path"], data, root, steps, batch_size, use_cpu).lora)
                if kind == "dpo"
                else None
            )
            defaults = trl_defaults_sft if kind == "sft" else trl_defaults_dpo

            def run(side: str, n_steps: int, tag: str):
                out = root / f"{side}-{kind}-{tag}"
                if side == "ours":
                    return ours(kind, model["path"], data, out, n_steps, batch_size, use_cpu)
                return defaults(model["path"], data, out, n_steps, batch_size, use_cpu, lora)

            for side in SIDES:  # warm-up, untimed
                if warmup_steps:
                    measure(lambda: run(side, warmup_steps, "warmup"), kind, model, peak)
            runs = {side: [] for side in SIDES}
            for r in range(repeats):
                for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                    runs[side].append(measure(lambda: run(side, steps, str(r)), kind, model, peak))
            results[kind] = {side: summarise(runs[side]) for side in SIDES}
            speedup = (
                results[kind]["ours"]["median_tokens_per_second"]
                / results[kind]["trl_defaults"]["median_tokens_per_second"]
            )
            results[kind]["speedup_tokens_per_second"] = round(speedup, 2)
            print(
                f"{kind}: "
                + "; ".join(
                    f"{side} {row['median_tokens_per_second']:.0f} tokens/s, MFU {row['median_mfu']}, "
                    f"peak {row['max_memory_allocated_gib']} GiB"
                    for side, row in ((s, results[kind][s]) for s in SIDES)
                )
                + f"; ours/defaults {speedup:.2f}x",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument(
        "--tiny", action="store_true", help="the tiny model instead of the Qwen2.5-0.5B shape (smoke run)"
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--scenarios", type=int, default=32)
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed runs per side, alternating which side goes first"
    )
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps each side trains first (0: none)")
    parser.add_argument(
        "--chars-per-token", type=float, default=QWEN25_CHARS_PER_TOKEN, help="Qwen2.5 estimate (qwen25_shape.py)"
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="dense bf16 peak for MFU on a GPU benchmarks.mfu does not list"
    )
    parser.add_argument(
        "--out", default=None, help="default: benchmarks/results/gpu_train.json (gpu_train_smoke.json with --tiny)"
    )
    args = parser.parse_args()
    results = gpu_train(
        args.device,
        args.tiny,
        args.steps,
        args.batch_size,
        args.scenarios,
        args.repeats,
        args.warmup_steps,
        args.chars_per_token,
        args.peak_tflops,
    )
    out = Path(args.out or f"benchmarks/results/{'gpu_train_smoke' if args.tiny else 'gpu_train'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out} ({results['device']})")


if __name__ == "__main__":
    main()
