"""Prompt templates (Jinja2 files beside this module), rendered strictly: a missing variable is an error."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import jinja2

_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True
)


@lru_cache(maxsize=None)
def template(name: str) -> jinja2.Template:
    """The template `name` (e.g. "collector_system.j2") from debtgpt/prompts/."""
    source = resources.files("debtgpt.prompts").joinpath(name)
    if not source.is_file():
        names = sorted(
            p.name for p in resources.files("debtgpt.prompts").iterdir() if p.name.endswith((".j2", ".txt"))
        )
        raise ValueError(f"prompt template {name!r} does not exist; available: {', '.join(names)}")
    return _ENV.from_string(source.read_text(encoding="utf-8"))


def render(name: str, **variables) -> str:
    return template(name).render(**variables).strip()


def template_names() -> list[str]:
    return sorted(p.name for p in resources.files("debtgpt.prompts").iterdir() if p.name.endswith((".j2", ".txt")))
