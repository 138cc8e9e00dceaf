"""Build a backend from a config mapping: `{"kind": "hf" | "vllm" | "openai", ...keyword arguments}`.

Heavy imports (torch, transformers, vllm, httpx) happen only for the kind that is asked for.
"""

from __future__ import annotations

from debtgpt.backends.base import Backend
from debtgpt.backends.settings import BACKEND_KINDS

__all__ = ["BACKEND_KINDS", "backend_class", "make_backend"]


def backend_class(kind: str) -> type[Backend]:
    """The class of a backend kind, its module imported only when that kind is asked for (hf's imports torch)."""
    if kind == "hf":
        from debtgpt.backends.hf import HFBackend

        return HFBackend
    if kind == "vllm":
        from debtgpt.backends.vllm import VLLMBackend

        return VLLMBackend
    if kind == "openai":
        from debtgpt.backends.openai_compat import OpenAIBackend

        return OpenAIBackend
    raise ValueError(f"backend kind={kind!r} is not known; allowed kinds: {', '.join(BACKEND_KINDS)}")


def make_backend(cfg: dict) -> Backend:
    """A backend from a config; every key but `kind` is passed to the backend's constructor."""
    options = dict(cfg)
    return backend_class(options.pop("kind", None))(**options)
