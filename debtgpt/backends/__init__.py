"""Generation backends: one interface (`Backend.generate`) over transformers, vLLM and OpenAI-compatible servers."""

from debtgpt.backends.base import Backend, Conversation, Generation, Sampling, Usage
from debtgpt.backends.registry import BACKEND_KINDS, make_backend

__all__ = ["BACKEND_KINDS", "Backend", "Conversation", "Generation", "Sampling", "Usage", "make_backend"]
