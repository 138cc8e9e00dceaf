"""Our SFT and DPO settings against TRL's defaults on a GPU: tokens per second and peak memory, side by side.

    python -m benchmarks.gpu_train                               # Qwen2.5-0.5B-shaped model, random weights, CUDA
    python -m benchmarks.gpu_train --device cpu --tiny --steps 2 # smoke run of the same code on the CPU

The model has Qwen2.5-0.5B's shape (Qwen2Config, random weights: nothing comes from the Hub) and the tiny
model's tokenizer (its ids fit in Qwen's 151,936-token vocabulary, whose output head is the cost that matters).
The data is benchmarks.train_throughput's workload (expert dialogues, expert vs conceder pairs).

- ours: train.sft / train.dpo as configured for qwen2.5-0.5b: bf16 where the GPU has it, max_length measured
  (nothing truncated), no gradient checkpointing, loss on the collector's turns; DPO with LoRA and the SFT
  model as its own reference (adapters off).
- trl_defaults: SFTConfig()/DPOConfig() as they come: max_length=1024 (longer dialogues lose their end),
  gradient checkpointing on, loss on every token (SFT), full DPO with a second model copy as the reference.

Writes benchmarks/results/gpu_train.json (or --out) with torch.cuda.get_device_name().
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
from pathlib import Path

QWEN25_05B_SHAPE = dict(
    vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
    num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1000000.0, tie_word_embeddings=True,
    rms_norm_eps=1e-6,
)


def build_model_folder(out: Path, tiny: bool) -> Path:
    """A random-weight model with the tiny tokenizer, saved where both trainers can load it by path."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from debtgpt.tiny import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("tiny"))
    if tiny:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(resolve_model("tiny"))
    else:
        torch.manual_seed(0)
        config = Qwen2Config(
            **QWEN25_05B_SHAPE, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        model = Qwen2ForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def measure(run) -> dict:
    """Run one training; tokens/s from the trainer's own token count, and the peak GPU memory."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = run()
    runtime = trainer.state.log_history[-1]["train_runtime"]
    tokens = int(trainer.state.num_input_tokens_seen)
    row = {
        "tokens": tokens, "train_seconds": round(runtime, 3), "tokens_per_second": round(tokens / runtime, 1),
        "max_memory_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if torch.cuda.is_available() else None,
        "max_length": trainer.args.max_length, "bf16": trainer.args.bf16,
        "gradient_checkpointing": trainer.args.gradient_checkpointing,
        "reference_copy": getattr(trainer, "ref_model", None) is not None,
    }
    del trainer
    return row


def trl_defaults_sft(model_dir: Path, data: Path, out: Path, steps: int, batch_size: int, use_cpu: bool):
    from datasets import load_from_disk
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch_size, report_to="none",
                     save_strategy="no", include_num_input_tokens_seen="non_padding", use_cpu=use_cpu, disable_tqdm=True)
    trainer = SFTTrainer(model=str(model_dir), args=args, train_dataset=load_from_disk(str(data / "sft")))
    trainer.train()
    return trainer


def trl_defaults_dpo(model_dir: Path, data: Path, out: Path, steps: int, batch_size: int, use_cpu: bool):
    from datasets import load_from_disk
    from trl import DPOConfig, DPOTrainer

    pairs = load_from_disk(str(data / "dpo_turn")).select_columns(["prompt", "chosen", "rejected"])
    args = DPOConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch_size, report_to="none",
                     save_strategy="no", include_num_input_tokens_seen="non_padding", use_cpu=use_cpu, disable_tqdm=True)
    trainer = DPOTrainer(model=str(model_dir), args=args, train_dataset=pairs)
    trainer.train()
    return trainer


def ours(kind: str, model_dir: Path, data: Path, root: Path, steps: int, batch_size: int, use_cpu: bool):
    from benchmarks.train_throughput import run_config
    from train.dpo import train_dpo
    from train.sft import train_sft

    overrides = {"model": {"name": str(model_dir)}, "trl": {"use_cpu": use_cpu}}
    if kind == "dpo":  # the SFT model of this benchmark is the random model itself
        overrides["init_from"] = str(model_dir)
    cfg = run_config(kind, data, root, steps, batch_size, **overrides)
    return (train_sft if kind == "sft" else train_dpo)(cfg, root / f"ours-{kind}")["trainer"]


def longer_than(model_dir: Path, data: Path, limit: int) -> dict:
    """How many examples TRL's default max_length would cut (their end, where the outcome is, is lost)."""
    from datasets import load_from_disk

    from train.data import pair_lengths, sft_lengths
    from train.model_loading import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    sft, pairs = load_from_disk(str(data / "sft")), load_from_disk(str(data / "dpo_turn"))
    return {
        "sft": f"{sum(n > limit for n in sft_lengths(tokenizer, sft))} of {len(sft)}",
        "dpo_turn": f"{sum(n > limit for n in pair_lengths(tokenizer, pairs))} of {len(pairs)}",
    }


def gpu_train(device: str, tiny: bool, steps: int, batch_size: int, n_scenarios: int) -> dict:
    os.environ.setdefault("WANDB_MODE", "disabled")
    import torch

    from benchmarks.train_throughput import write_workload

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA GPU here; use --device cpu --tiny for the smoke run")
    use_cpu = device == "cpu"
    results = {
        "device": torch.cuda.get_device_name() if not use_cpu else "cpu",
        "model": "tiny" if tiny else "Qwen2.5-0.5B shape (random weights)",
        "steps": steps, "batch_size": batch_size, "scenarios": n_scenarios, "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_workload(root / "pairs", n_scenarios)
        model_dir = build_model_folder(root / "model", tiny)
        results["examples_longer_than_trl_default_1024"] = longer_than(model_dir, data, 1024)
        for kind in ("sft", "dpo"):
            defaults = trl_defaults_sft if kind == "sft" else trl_defaults_dpo
            results[kind] = {
                "ours": measure(lambda: ours(kind, model_dir, data, root, steps, batch_size, use_cpu)),
                "trl_defaults": measure(lambda: defaults(model_dir, data, root / f"defaults-{kind}", steps, batch_size, use_cpu)),
            }
            print(f"{kind}: " + "; ".join(
                f"{name} {row['tokens_per_second']:.0f} tokens/s, peak {row['max_memory_allocated_gib']} GiB"
                for name, row in results[kind].items()), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="the tiny model instead of the Qwen2.5-0.5B shape (smoke run)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--scenarios", type=int, default=32)
    parser.add_argument("--out", default=None, help="default: benchmarks/results/gpu_train.json (gpu_train_smoke.json with --tiny)")
    args = parser.parse_args()
    results = gpu_train(args.device, args.tiny, args.steps, args.batch_size, args.scenarios)
    out = Path(args.out or f"benchmarks/results/{'gpu_train_smoke' if args.tiny else 'gpu_train'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out} ({results['device']})")


if __name__ == "__main__":
    main()
