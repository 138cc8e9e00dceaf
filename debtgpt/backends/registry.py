"""Build a backend from a config mapping: `{"kind": "hf" | "vllm" | "openai", ...keyword arguments}`.

Heavy imports (torch, transformers, vllm, httpx) happen only for the kind that is asked for.
"""
from __future__ import annotations

from debtgpt.backends.base import Backend

BACKEND_KINDS = ("hf", "vllm", "openai")


def make_backend(cfg: dict) -> Backend:
    """A backend from a config; every key but `kind` is passed to the backend's constructor."""
    options = dict(cfg)
    kind = options.pop("kind", None)
    if kind == "hf":
        from debtgpt.backends.hf import HFBackend

        return HFBackend(**options)
    if kind == "vllm":
        from debtgpt.backends.vllm import VLLMBackend

        return VLLMBackend(**options)
    if kind == "openai":
        from debtgpt.backends.openai_compat import OpenAIBackend

        return OpenAIBackend(**options)
    raise ValueError(f"backend kind={kind!r} is not known; allowed kinds: {', '.join(BACKEND_KINDS)}")
