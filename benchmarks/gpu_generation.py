"""hf-backend generation on a GPU: tokens per second batched (64 dialogues) vs one dialogue at a time.

The model has Qwen2.5-0.5B's shape (Qwen2Config) with random weights, so nothing is downloaded; the
tokenizer is the tiny model's (token ids it cannot decode are dropped, which only shortens the texts).
Random weights rarely stop early, so every turn generates about max_tokens tokens in both runs. The
runner's time outside generation (prompt building, parsing, bookkeeping) is reported as a share.
Writes benchmarks/results/gpu_generation.json with the device name.

    python -m benchmarks.gpu_generation                     # on a GPU machine
    python -m benchmarks.gpu_generation --device cpu --tiny # smoke run: tiny model on the CPU
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

# Qwen2.5-0.5B-Instruct's architecture.
QWEN25_05B_SHAPE = dict(
    vocab_size=151936,
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)


def qwen_shaped_model(tokenizer, dtype, seed: int = 0):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        **QWEN25_05B_SHAPE,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(dtype)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="use the tiny model instead of the Qwen2.5-0.5B shape")
    parser.add_argument("--dialogues", type=int, default=64, help="dialogues in the batched run (one runner batch)")
    parser.add_argument("--sequential-dialogues", type=int, default=8, help="dialogues in the one-at-a-time run")
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--out", default=None, help="default: benchmarks/results/gpu_generation.json (cpu_smoke.json off GPU)")
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from benchmarks.hf_generation import scenarios_for, time_dialogues
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
        model, model_name = qwen_shaped_model(tokenizer, torch.bfloat16 if on_gpu else torch.float32), "qwen2.5-0.5b-shape (random weights)"
    print(f"model {model_name} on {args.device}")
    backend = HFBackend(tiny_path, device=args.device, batch_size=args.dialogues, model_obj=model, tokenizer=tokenizer)

    scenarios = scenarios_for(args.dialogues)
    options = dict(max_turns=args.max_turns, max_tokens=args.max_tokens)
    time_dialogues(backend, scenarios[:2], batch_size=2, max_turns=2, max_tokens=4)  # warm-up: kernels, allocator
    batched = time_dialogues(backend, scenarios, batch_size=args.dialogues, **options)
    print(f"batched ({args.dialogues}): {batched['tokens_per_s']} tokens/s")
    sequential = time_dialogues(backend, scenarios[: args.sequential_dialogues], batch_size=1, **options)
    print(f"one at a time: {sequential['tokens_per_s']} tokens/s")

    result = {
        "device": torch.cuda.get_device_name() if on_gpu else platform.processor() or "cpu",
        "model": model_name,
        "dtype": str(backend.model.dtype),
        "torch": torch.__version__,
        "max_turns": args.max_turns,
        "max_tokens": args.max_tokens,
        "batched": {"batch_size": args.dialogues, **batched},
        "sequential": {"batch_size": 1, **sequential},
        "speedup_tokens_per_s": round(batched["tokens_per_s"] / sequential["tokens_per_s"], 2),
    }
    default_out = "benchmarks/results/gpu_generation.json" if on_gpu else "benchmarks/results/gpu_generation_cpu_smoke.json"
    out = Path(args.out or default_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"speedup {result['speedup_tokens_per_s']}x; share of runner time outside generation {batched['share_outside_generation']}; wrote {out}")


if __name__ == "__main__":
    main()
