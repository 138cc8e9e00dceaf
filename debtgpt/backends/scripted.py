"""The `scripted` backend: answers from a Python function instead of a model (tests, dry runs, replays).

`respond(conversation, seed)` returns the text for one conversation; every call is logged in `calls`.
"""

from __future__ import annotations

from typing import Callable

from debtgpt.backends.base import Backend, Conversation, Generation, Sampling


class ScriptedBackend(Backend):
    name = "scripted"

    def __init__(self, respond: Callable[[Conversation, int | None], str]) -> None:
        super().__init__()
        self.respond = respond
        self.calls: list[list[Conversation]] = []  # one entry per generate() call: the batch it got

    def generate(
        self, conversations: list[Conversation], sampling: Sampling, seeds: list[int] | None = None
    ) -> list[Generation]:
        self.calls.append(conversations)
        seeds = seeds if seeds is not None else [None] * len(conversations)
        generations = [Generation(text=self.respond(c, s)) for c, s in zip(conversations, seeds)]
        self.usage.add(generations)
        return generations
