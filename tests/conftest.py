"""Shared fixtures: a tiny model built once per session, and scenarios to negotiate over."""

from __future__ import annotations

import pytest

from debtgpt.dialogue import Scenario
from debtgpt.personas import generate_personas
from debtgpt.records import generate_records


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from debtgpt.tiny import ensure_tiny_model

    return ensure_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def hf_backend(tiny_model_dir):
    from debtgpt.backends import make_backend

    return make_backend({"kind": "hf", "model": str(tiny_model_dir), "device": "cpu"})


def make_scenarios(n: int, seed: int = 7) -> list[Scenario]:
    records = generate_records(n, seed)
    return [Scenario(id=r.id, record=r, persona=p) for r, p in zip(records, generate_personas(records, seed))]


@pytest.fixture
def scenarios() -> list[Scenario]:
    return make_scenarios(8)
