"""Typed schemas behind the Hydra configs: a misspelt key or a wrong type fails at start-up with its name.

Each stage's YAML in configs/ lists its schema first in its defaults, so Hydra validates every override
against these dataclasses. Hydra's own settings (run dirs) stay in the YAML files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

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
    store.store(name="sft_schema", node=SFTRunConfig)
    store.store(name="dpo_schema", node=DPORunConfig)
    store.store(name="publish_schema", node=PublishConfig)


# --- training (train/sft.py, train/dpo.py, train/publish.py) ---------------------------------------------


@dataclass
class ModelConfig:
    # "tiny" (built locally by debtgpt.tiny), a Hub name or a local folder
    name: str = "tiny"
    # weights and compute dtype: auto (bf16 on a GPU that has it, fp32 otherwise), float32 or bfloat16
    dtype: str = "auto"
    # attention kernel passed to transformers: sdpa, eager or flash_attention_2
    attn_implementation: str = "sdpa"
    # recompute activations in the backward pass: slower, much less memory (7B models)
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False


@dataclass
class LoraSettings:
    # train a LoRA adapter (true) or every weight (false)
    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # layers to adapt: "all-linear" is every linear layer but the output head
    target_modules: str = "all-linear"


@dataclass
class WandbSettings:
    # auto: online when WANDB_API_KEY is set, offline otherwise; WANDB_MODE=disabled in the environment wins
    mode: str = "auto"
    project: str = "debtgpt"
    entity: Optional[str] = None


@dataclass
class TrainRunConfig:
    # checkpoints/<run>/ holds checkpoint-N/ and final/; a sweep puts each point in checkpoints/<run>/<overrides>/
    run: str = "train"
    checkpoints_dir: str = "checkpoints"
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    # learning rate (swept as lr=1e-4,3e-4)
    lr: float = 1e-4
    epochs: float = 1.0
    # stop after this many optimizer steps (-1: run the epochs)
    max_steps: int = -1
    # examples per device per step, and steps accumulated per optimizer update
    batch_size: int = 4
    grad_accum: int = 1
    warmup_ratio: float = 0.0
    # token cap per example; null: the longest example as measured with the chat template (nothing truncated)
    max_length: Optional[int] = None
    # an example longer than max_length: fail (name the count and the longest) or drop (print the count)
    overlength: str = "fail"
    # auto: bf16 when the model dtype resolves to bfloat16 on a GPU that supports it, fp32 otherwise; fp32; bf16
    precision: str = "auto"
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 10
    seed: int = 0
    # continue from the newest checkpoint-N/ of this run when there is one
    resume: bool = True
    # with LoRA, final/ holds merged weights (merged) or the adapter with its base named (adapter)
    final_weights: str = "merged"
    wandb: WandbSettings = field(default_factory=WandbSettings)
    # extra TRL config arguments passed through as they are, e.g. trl.lr_scheduler_type=cosine
    trl: dict[str, Any] = field(default_factory=dict)


@dataclass
class SFTRunConfig(TrainRunConfig):
    run: str = "sft-tiny"
    # HF dataset (save_to_disk) with a conversational `messages` column
    data: str = "data/pairs/sft"


@dataclass
class DPORunConfig(TrainRunConfig):
    run: str = "dpo-tiny"
    # turn: pairs of one collector turn on a shared history (default); dialogue: pairs of whole dialogues
    level: str = "turn"
    # folder of dpo_turn/ and dpo_dialogue/ (HF datasets with prompt, chosen, rejected)
    pairs_dir: str = "data/pairs"
    # the SFT model: the policy starts here and, with the adapter off, is the reference
    init_from: str = "checkpoints/sft-tiny/final"
    beta: float = 0.1
    # TRL DPO loss: sigmoid, ipo, hinge, robust, ... (several with loss_weights in trl)
    loss_type: str = "sigmoid"
    # reference log-probs computed once before training (no reference forward pass per step)
    precompute_ref_log_probs: bool = False
    lora: LoraSettings = field(default_factory=lambda: LoraSettings(enabled=True))


@dataclass
class PublishConfig:
    # final/ folder of a training run: merged weights, or an adapter whose base is named in adapter_config.json
    checkpoint: str = "checkpoints/dpo-tiny/final"
    # Hub repository, "user/name"
    repo_id: str = "debtgpt-tiny-dpo"
    # a DebtBench report (eval.run) whose tables go into the model card
    metrics: str = "reports/latest/metrics.json"
    # the collector of that report the model card is about (null: every collector in it)
    collector: Optional[str] = None
    # dataset folders whose cards (README.md or card.json) are copied beside the model card
    datasets: list[str] = field(default_factory=lambda: ["data/pairs/sft", "data/pairs/dpo_turn", "data/pairs/dpo_dialogue"])
    # the folder that is written, checked and pushed
    staging_dir: str = "checkpoints/publish"
    # write and check the folder, push nothing
    dry_run: bool = False
    private: bool = True
    commit_message: str = "Upload DebtGPT collector"
