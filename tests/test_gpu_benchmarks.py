"""The GPU benchmarks' yardsticks, checked on the CPU: Qwen2.5-shaped lengths, FLOPs per token, the GPU's peak."""

from __future__ import annotations

import pytest

from benchmarks.mfu import forward_flops_per_token, mfu, peak_tflops, training_passes
from benchmarks.qwen25_shape import QWEN25_05B_SHAPE, reshape_messages


def test_each_message_is_resized_to_its_qwen25_token_estimate(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    chat = [
        {
            "role": "system",
            "content": "You are a debt collector. Policy: at least 25 % up front, 7 days or fewer. " * 20,
        },
        {"role": "user", "content": "I lost my job in March."},
        {
            "role": "assistant",
            "content": '{"thoughts": "", "strategy": "establish trust", "action": "non", "dialogue": "I hear you."}',
        },
    ]
    reshaped = reshape_messages(chat, tokenizer, chars_per_token=4.0)
    assert [m["role"] for m in reshaped] == ["system", "user", "assistant"]
    for before, after in zip(chat, reshaped):
        estimate = -(-len(before["content"]) // 4)
        assert abs(len(tokenizer(after["content"], add_special_tokens=False)["input_ids"]) - estimate) <= 2


def test_mfu_counts_the_passes_each_method_needs():
    assert training_passes(lora=False, dpo_reference=False) == 3  # full SFT: forward, two backward matmuls
    assert training_passes(lora=True, dpo_reference=True) == 3  # LoRA DPO: forward, activation gradients, reference
    assert training_passes(lora=False, dpo_reference=True) == 4
    # Qwen2.5-0.5B at 1,000 tokens: about 1 GFLOP of weights per token, attention a few percent on top
    flops = forward_flops_per_token(
        494_000_000, QWEN25_05B_SHAPE["num_hidden_layers"], QWEN25_05B_SHAPE["hidden_size"], 1000
    )
    assert flops == pytest.approx(2 * 494e6 + 2 * 24 * 896 * 1000)
    assert mfu(10_000, 3 * flops, 989.0) == pytest.approx(10_000 * 3 * flops / 989e12, abs=1e-4)
    assert mfu(10_000, 3 * flops, None) is None


def test_the_peak_is_looked_up_by_gpu_name_variants_first():
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA L40S") == 362.0 and peak_tflops("NVIDIA L4") == 121.0
    assert peak_tflops("cpu") is None and peak_tflops("cpu", override=1.5) == 1.5


@pytest.mark.slow
def test_the_gpu_training_benchmark_runs_both_sides_of_each_stage_on_the_cpu(tmp_path):
    """Its smoke run, the same code as on a GPU: our SFT and DPO against TRL's defaults, with a ratio each."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "gpu_train.json"
    command = [sys.executable, "-m", "benchmarks.gpu_train", "--device", "cpu", "--tiny", "--steps", "1"]
    command += ["--repeats", "1", "--warmup-steps", "0", "--scenarios", "4", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    for stage in ("sft", "dpo"):
        assert set(report[stage]) == {"ours", "trl_defaults", "speedup_tokens_per_second"}
        assert report[stage]["speedup_tokens_per_second"] > 0
