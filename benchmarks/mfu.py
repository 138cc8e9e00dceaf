"""Model FLOPs utilisation: the FLOPs a method needs per token, over the GPU's dense bf16 peak.

Forward FLOPs per token (nanoGPT's and PaLM's estimate, causal attention halved): 2 N for the weights (N
counts the tied output head once; the embedding lookup is free but the head is a matmul) plus 2 L d S for
attention over a mean sequence of S tokens (L layers, d model width). Training multiplies it:

- full fine-tuning: 3 (forward, then gradients of the activations and of the weights);
- LoRA: 2 (the frozen weights get no gradients; the adapters' FLOPs are negligible);
- DPO adds 1 for the reference forward pass (adapters off, or a second copy) unless its log-probs are
  precomputed.

These are model FLOPs: recomputation under gradient checkpointing does not count, so it shows as lower MFU.
The peak is the dense bf16 tensor-core figure of NVIDIA's data sheets; an unknown GPU needs --peak-tflops.
"""

from __future__ import annotations

# (substring of torch.cuda.get_device_name(), dense bf16 TFLOPS); the first match wins, so variants come first.
PEAK_BF16_TFLOPS = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)


def peak_tflops(device_name: str, override: float | None = None) -> float | None:
    if override:
        return override
    return next((tflops for name, tflops in PEAK_BF16_TFLOPS if name in device_name), None)


def forward_flops_per_token(n_params: int, layers: int, width: int, mean_sequence: float) -> float:
    return 2.0 * n_params + 2.0 * layers * width * mean_sequence


def training_passes(lora: bool, dpo_reference: bool) -> int:
    """Forward-pass equivalents per trained token (see the module docstring)."""
    return (2 if lora else 3) + (1 if dpo_reference else 0)


def mfu(tokens_per_second: float, flops_per_token: float, peak: float | None) -> float | None:
    """The share of the peak (TFLOPS) that the method's FLOPs reach; None without a known peak."""
    return round(tokens_per_second * flops_per_token / (peak * 1e12), 4) if peak else None
