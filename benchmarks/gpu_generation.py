"""hf-backend generation on a GPU: batched (64 dialogues) against one at a time, and compiled decoding against eager.

    python -m benchmarks.gpu_generation                     # on a GPU machine
    python -m benchmarks.gpu_generation --device cpu --tiny # smoke run: tiny model on the CPU (no compile)

The model has Qwen2.5-0.5B's shape with random weights (benchmarks.qwen25_shape), so nothing is downloaded;
the tokenizer is the tiny model's. Prompts are the collector's and debtor's system cards plus the dialogue
so far: the history is counted in generated tokens either way, and the tiny tokenizer's 3.5-3.9 characters
per token on the cards is within about 12 % of the Qwen2.5 estimate of 4 (see qwen25_shape.py), so the
lengths are Qwen2.5-shaped without resizing. Random weights rarely stop early, so every turn generates about
max_tokens tokens in every run.

Measured, in this order, each with warm-up outside its timing:
- batched, eager (`compile=false`, the backend's default); warm-up: a short run (kernels, allocator);
- one dialogue at a time, eager; warm-up: the same short run;
- batched, compiled (`compile=true`: transformers' torch.compile of decoding with the static cache; CUDA
  only); warm-up: the whole workload once, since every new batch or prompt shape compiles again. Its time
  is reported as first_pass_seconds: what a run that plays each shape once pays. Compiled runs last, so
  its CUDA graph memory pools do not count in the others' peaks.
Each reports tokens/s, dialogues/s, the share of runner time outside generation, peak GPU memory and MFU
(2 N FLOPs per prompt and generated token, attention left out; benchmarks.mfu for the peak).
Writes benchmarks/results/gpu_generation.json with the device name.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

WARMUP = dict(max_turns=2, max_tokens=4)


def measured(backend, scenarios, batch_size: int, options: dict, n_params: int, peak: float | None) -> dict:
    """One timed run through the runner, with peak GPU memory and MFU."""
    import torch

    from benchmarks.hf_generation import time_dialogues
    from benchmarks.mfu import mfu

    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    row = time_dialogues(backend, scenarios, batch_size=batch_size, **options)
    processed_per_s = (row["prompt_tokens"] + row["completion_tokens"]) / row["seconds"]
    row["max_memory_allocated_gib"] = (
        round(torch.cuda.max_memory_allocated() / 2**30, 3) if torch.cuda.is_available() else None
    )
    row["mfu"] = mfu(processed_per_s, 2.0 * n_params, peak)
    return {"batch_size": batch_size, **row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="use the tiny model instead of the Qwen2.5-0.5B shape")
    parser.add_argument("--dialogues", type=int, default=64, help="dialogues in the batched runs (one runner batch)")
    parser.add_argument("--sequential-dialogues", type=int, default=8, help="dialogues in the one-at-a-time run")
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled run (it only runs on CUDA)")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="dense bf16 peak for MFU on a GPU benchmarks.mfu does not list"
    )
    parser.add_argument(
        "--out", default=None, help="default: benchmarks/results/gpu_generation.json (…_cpu_smoke.json off GPU)"
    )
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from benchmarks.hf_generation import scenarios_for, time_dialogues
    from benchmarks.mfu import peak_tflops
    from benchmarks.qwen25_shape import qwen_shaped_model
    from debtgpt.backends.hf import HFBackend
    from debtgpt.tiny import TINY_NAME, resolve_model

    on_gpu = args.device.startswith("cuda")
    if on_gpu and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device} needs a CUDA GPU; use --device cpu --tiny for a smoke run")
    tiny_path = resolve_model(TINY_NAME)
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    if args.tiny:
        model, model_name = None, "tiny"
    else:
        model, model_name = (
            qwen_shaped_model(tokenizer, torch.bfloat16 if on_gpu else torch.float32),
            "qwen2.5-0.5b-shape (random weights)",
        )
    print(f"model {model_name} on {args.device}")
    eager = HFBackend(tiny_path, device=args.device, batch_size=args.dialogues, model_obj=model, tokenizer=tokenizer)
    n_params = sum(p.numel() for p in eager.model.parameters())
    device_name = torch.cuda.get_device_name() if on_gpu else platform.processor() or "cpu"
    peak = peak_tflops(device_name, args.peak_tflops)

    scenarios = scenarios_for(args.dialogues)
    options = dict(max_turns=args.max_turns, max_tokens=args.max_tokens)
    runs = {}
    time_dialogues(eager, scenarios[:2], batch_size=2, **WARMUP)
    runs["batched"] = measured(eager, scenarios, args.dialogues, options, n_params, peak)
    print(f"batched ({args.dialogues}), eager: {runs['batched']['tokens_per_s']} tokens/s", flush=True)
    time_dialogues(eager, scenarios[:1], batch_size=1, **WARMUP)
    runs["sequential"] = measured(eager, scenarios[: args.sequential_dialogues], 1, options, n_params, peak)
    print(f"one at a time, eager: {runs['sequential']['tokens_per_s']} tokens/s", flush=True)
    if on_gpu and not args.no_compile:
        compiled = HFBackend(
            tiny_path,
            device=args.device,
            batch_size=args.dialogues,
            model_obj=eager.model,
            tokenizer=tokenizer,
            compile=True,
        )
        first_pass = time_dialogues(compiled, scenarios, batch_size=args.dialogues, **options)
        runs["batched_compiled"] = {
            **measured(compiled, scenarios, args.dialogues, options, n_params, peak),
            "first_pass_seconds": first_pass["seconds"],
        }
        print(
            f"batched ({args.dialogues}), compiled: {runs['batched_compiled']['tokens_per_s']} tokens/s "
            f"(first pass, compiling: {first_pass['seconds']} s)",
            flush=True,
        )

    result = {
        "device": device_name,
        "peak_bf16_tflops": peak,
        "model": model_name,
        "parameters": n_params,
        "dtype": str(eager.model.dtype),
        "torch": torch.__version__,
        "max_turns": args.max_turns,
        "max_tokens": args.max_tokens,
        **runs,
        "speedup_batched_vs_sequential": round(
            runs["batched"]["tokens_per_s"] / runs["sequential"]["tokens_per_s"], 2
        ),
    }
    if "batched_compiled" in runs:
        result["speedup_compiled_vs_eager"] = round(
            runs["batched_compiled"]["tokens_per_s"] / runs["batched"]["tokens_per_s"], 2
        )
    default_out = (
        "benchmarks/results/gpu_generation.json" if on_gpu else "benchmarks/results/gpu_generation_cpu_smoke.json"
    )
    out = Path(args.out or default_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"batched vs one at a time {result['speedup_batched_vs_sequential']}x; "
        "share of runner time outside generation "
        f"{runs['batched']['share_outside_generation']}; wrote {out}"
    )


if __name__ == "__main__":
    main()
