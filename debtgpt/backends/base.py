"""One generation interface for every backend: a batch of chat conversations in, texts out.

A conversation is a list of {"role": "system"|"user"|"assistant", "content": str} messages. Backends
return one `Generation` per conversation, in order; a request that failed for good carries `error`
instead of raising, so one dialogue's failure never stops the batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

Conversation = list[dict]


@dataclass
class Sampling:
    """Sampling settings shared by every backend (names follow vLLM's SamplingParams)."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256  # always explicit: vLLM's default of 16 truncates every turn
    json_schema: dict | None = None  # guided JSON / response_format where the backend supports it
    stop: list[str] = field(default_factory=list)


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None  # set when the request failed for good; text is then ""


@dataclass
class Usage:
    """Running token totals of a backend."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: int = 0

    def add(self, generations: list[Generation]) -> None:
        for g in generations:
            self.requests += 1
            self.prompt_tokens += g.prompt_tokens
            self.completion_tokens += g.completion_tokens
            self.failures += g.error is not None


class Backend(ABC):
    """Generates chat completions for a batch of conversations."""

    name: str = ""

    def __init__(self) -> None:
        self.usage = Usage()

    @abstractmethod
    def generate(
        self, conversations: list[Conversation], sampling: Sampling, seeds: list[int] | None = None
    ) -> list[Generation]:
        """One generation per conversation, in order. `seeds` gives each request its own sampling seed."""

    def close(self) -> None:
        """Free engines, sessions or servers."""

    @classmethod
    def preflight(cls, **settings) -> str | None:
        """What keeps a backend with these settings from running, as "what is missing; how to fix it", or None.
        Cheap: it loads no model, so every agent of a run is checked before the first dialogue starts."""
        return None


def missing_local_model(name: str | None, what: str = "model") -> str | None:
    """A model or adapter named by a local path that does not exist (a Hub name like org/model is not checked)."""
    from pathlib import Path

    if not name or name == "tiny" or Path(name).expanduser().exists():
        return None
    looks_local = name.startswith((".", "/", "~")) or name.count("/") >= 2 or name.split("/")[0] == "checkpoints"
    if not looks_local:
        return None
    hint = "; train it first (make sft / make dpo)" if "checkpoints" in name else "; fix the path"
    return f"{what} folder {name} does not exist{hint}"
