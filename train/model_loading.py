"""The model, its tokenizer and its LoRA config, by folder or Hub name; an adapter folder stands for its base plus
itself."""

from __future__ import annotations

import json
from pathlib import Path


def adapter_base(path: str) -> str | None:
    """The base model an adapter folder names in adapter_config.json, or None for a plain model."""
    adapter_config = Path(path) / "adapter_config.json"
    return json.loads(adapter_config.read_text())["base_model_name_or_path"] if adapter_config.is_file() else None


def load_tokenizer(path: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def model_context(path: str, model_cfg) -> int | None:
    """The model's context length from its config alone, so that max_length is known before any weight loads."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(adapter_base(path) or path, trust_remote_code=model_cfg.trust_remote_code)
    return getattr(config, "max_position_embeddings", None)


def load_model(path: str, model_cfg):
    """A causal LM from a folder or Hub name; an adapter folder is merged into the base it names."""
    import torch
    from transformers import AutoModelForCausalLM

    # Mixed precision keeps fp32 master weights; only an explicit dtype (a 7B model) loads lower.
    dtype = torch.float32 if model_cfg.dtype == "auto" else getattr(torch, model_cfg.dtype)
    options = dict(
        dtype=dtype, attn_implementation=model_cfg.attn_implementation, trust_remote_code=model_cfg.trust_remote_code
    )
    base = adapter_base(path)
    if base is None:
        return AutoModelForCausalLM.from_pretrained(path, **options)
    from peft import PeftModel

    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, **options), path).merge_and_unload()


def parameter_count(model) -> int:
    # ZeRO-3 leaves each rank an empty shard of every weight and records the full size as ds_numel
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())


def lora_config(lora_cfg):
    """A PEFT LoRA config, or None for full fine-tuning."""
    if not lora_cfg.enabled:
        return None
    from peft import LoraConfig

    if lora_cfg.r < 1 or lora_cfg.alpha < 1:
        raise ValueError(f"lora.r={lora_cfg.r} and lora.alpha={lora_cfg.alpha} must be >= 1")
    return LoraConfig(
        r=lora_cfg.r,
        lora_alpha=lora_cfg.alpha,
        lora_dropout=lora_cfg.dropout,
        target_modules=lora_cfg.target_modules,
        task_type="CAUSAL_LM",
    )
