"""The settings of each backend kind, as dataclasses: the schemas agent specs are checked against.

A spec's `backend: {kind: hf, ...}` is merged into the schema of its kind with OmegaConf (debtgpt/agents/specs.py),
so a misspelt setting or a value of the wrong type fails before any model loads. Each schema's fields are its
backend's keyword arguments with their defaults (tests/test_agent_checks.py keeps the two equal); the backend
modules import torch, httpx or vllm, this one nothing, so a spec is checked without them.

The dtypes a model may be loaded in have one home here: the hf and vllm backends accept them, and so does the
training config (pipeline/config.py `Dtype`), so a checkpoint trained in a dtype can be evaluated in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

# auto: the checkpoint's own dtype (training: fp32 weights, bf16 mixed precision where the GPU has it)
DTYPES = ("auto", "float32", "bfloat16")
# how the openai backend asks for JSON turns: a strict turn schema, any JSON object, or not at all
RESPONSE_FORMATS = ("json_schema", "json_object", "none")
MISSING = "???"  # OmegaConf's mark of a field with no default: a spec must set it


class Choice(str, Enum):
    """Allowed values of a setting; each member's name is its value, so specs write the value and code compares
    plain strings."""

    def __str__(self) -> str:
        return self.value


Dtype = Choice("Dtype", [(v, v) for v in DTYPES])
ResponseFormat = Choice("ResponseFormat", [(v, v) for v in RESPONSE_FORMATS])


@dataclass
class HFSettings:
    """debtgpt.backends.hf.HFBackend: transformers on CPU or GPU."""

    kind: str = "hf"
    # a Hub name, a local folder, or "tiny" (the embedded model)
    model: str = "tiny"
    # a PEFT adapter folder merged into the model at load
    adapter: str | None = None
    # auto: cuda where there is one, else cpu
    device: str = "auto"
    dtype: Dtype = Dtype.auto
    batch_size: int = 32
    trust_remote_code: bool = False
    cache_implementation: str | None = "static"
    # keeps each conversation's KV cache between calls; 0 re-encodes every prompt through model.generate
    prefix_cache_gib: float = 2.0
    # lets transformers torch.compile decoding (CUDA, static cache, prefix_cache_gib=0 only)
    compile: bool = False


@dataclass
class VLLMSettings:
    """debtgpt.backends.vllm.VLLMBackend: vLLM's offline engine (GPU)."""

    kind: str = "vllm"
    model: str = "tiny"
    # a PEFT LoRA folder served on top of the model
    adapter: str | None = None
    max_lora_rank: int = 64
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.85
    max_model_len: int | None = None
    dtype: Dtype = Dtype.auto
    guided_json: bool = True
    seed: int = 0


@dataclass
class OpenAISettings:
    """debtgpt.backends.openai_compat.OpenAIBackend: any OpenAI-compatible chat completions server."""

    kind: str = "openai"
    model: str = MISSING
    base_url: str = "https://api.openai.com/v1"
    # the environment variable the key is read from (never the key itself)
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 16
    timeout_s: float = 60.0
    max_attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    response_format: ResponseFormat = ResponseFormat.json_schema
    send_seed: bool = True
    extra_body: dict[str, Any] | None = None


BACKEND_SETTINGS: dict[str, type] = {"hf": HFSettings, "vllm": VLLMSettings, "openai": OpenAISettings}
BACKEND_KINDS = tuple(BACKEND_SETTINGS)
