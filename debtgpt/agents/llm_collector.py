"""An LLM collector: the information card and policy as the system prompt, the call so far as chat turns
(built by debtgpt/agents/prompting.py, which every LLM agent shares)."""

from __future__ import annotations

from debtgpt.agents.base import View
from debtgpt.agents.prompting import PromptedAgent, collector_messages
from debtgpt.backends.base import Backend, Sampling


class LLMCollector(PromptedAgent):
    """A prompted (or trained) LLM collector."""

    role = "collector"

    def __init__(
        self, backend: Backend, *, name: str = "llm", sampling: Sampling | None = None, guided_json: bool = True
    ) -> None:
        super().__init__(backend, name=name, sampling=sampling, guided_json=guided_json)

    def messages(self, view: View) -> list[dict]:
        return collector_messages(view)
