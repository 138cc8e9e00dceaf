"""Typed schemas behind the Hydra configs: a misspelt key or a wrong type fails at start-up with its name.

Each stage's YAML in configs/ lists its schema first in its defaults, so Hydra validates every override
against these dataclasses. Hydra's own settings (run dirs) stay in the YAML files.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from debtgpt.constants import DEFAULT_MAX_TURNS, DEFAULT_NUM_RECORDS, DEFAULT_TEST_FRACTION


@dataclass
class DataConfig:
    # how many synthetic debt records (and personas) to generate
    num_records: int = DEFAULT_NUM_RECORDS
    # seed of records, personas and the split: same seed, same files
    seed: int = 0
    # share of each archetype held out for evaluation
    test_fraction: float = DEFAULT_TEST_FRACTION
    # where records.jsonl, personas.jsonl, train.jsonl, test.jsonl and card.json go
    out_dir: str = "data"


@dataclass
class EvalConfig:
    # collectors to evaluate side by side: scripted names or files in configs/collector/
    collectors: list[str] = field(default_factory=lambda: ["firm", "conceder", "expert"])
    # the debtor simulator every collector talks to
    debtor: str = "scripted"
    # scenario split to evaluate on
    split: str = "test"
    # folder written by `make data`
    data_dir: str = "data"
    # reports go to <reports_dir>/<run>/
    reports_dir: str = "reports"
    run: str = "latest"
    # seed of every dialogue's random streams
    seed: int = 0
    # turns of both sides together before a dialogue fails
    max_turns: int = DEFAULT_MAX_TURNS
    # live dialogues per batch
    batch_size: int = 256
    # dialogues per scenario and collector
    samples: int = 1
    # PNG plots of the main metrics per archetype
    plots: bool = True
    # a progress bar per collector
    progress: bool = True


def register_configs() -> None:
    store = ConfigStore.instance()
    store.store(name="data_schema", node=DataConfig)
    store.store(name="eval_schema", node=EvalConfig)
