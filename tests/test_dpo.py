"""DPO on the tiny model: LoRA on the SFT model, which is its own reference with the adapters off."""
from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from benchmarks.train_throughput import write_workload
from debtgpt.config import stage_config
from train.dpo import train_dpo


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    return write_workload(tmp_path_factory.mktemp("pairs"), n_scenarios=2)


def dpo_config(sft_model, pairs_dir, root, **overrides):
    cfg = stage_config("dpo")  # the defaults `make dpo` runs
    base = dict(pairs_dir=str(pairs_dir), init_from=str(sft_model), checkpoints_dir=str(root), model={"name": "tiny"},
                batch_size=1, max_steps=1, logging_steps=1, lora={"r": 4, "alpha": 8},
                wandb={"mode": "disabled"}, trl={"disable_tqdm": True})
    return OmegaConf.merge(cfg, base, overrides)


def test_dpo_with_lora_keeps_no_reference_copy_and_merges_final(tiny_model_dir, pairs_dir, tmp_path):
    out = train_dpo(dpo_config(tiny_model_dir, pairs_dir, tmp_path, beta=0.2), tmp_path / "dpo")
    trainer = out["trainer"]
    assert trainer.ref_model is None  # the reference is the SFT model with its adapters off
    assert trainer.args.beta == 0.2 and trainer.args.loss_type == ["sigmoid"] and not trainer.args.bf16
    final = tmp_path / "dpo" / "final"
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
    assert json.loads((final / "train_card.json").read_text())["examples"] == out["examples"]


def test_dialogue_level_pairs_and_an_adapter_that_names_its_base(tiny_model_dir, pairs_dir, tmp_path):
    out = train_dpo(dpo_config(tiny_model_dir, pairs_dir, tmp_path, level="dialogue", final_weights="adapter", heldout_fraction=0), tmp_path / "dpo")
    final = tmp_path / "dpo" / "final"
    assert out["examples"] == 2  # one pair per scenario
    adapter = json.loads((final / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(tiny_model_dir) and (final / "tokenizer.json").is_file()


def test_an_unknown_level_or_a_missing_sft_model_fails_early(tiny_model_dir, pairs_dir, tmp_path):
    with pytest.raises(ValueError, match=r"Invalid value 'episode', expected one of \[turn, dialogue\]\s+full_key: level"):
        dpo_config(tiny_model_dir, pairs_dir, tmp_path, level="episode")  # the schema refuses it before any work
    with pytest.raises(FileNotFoundError, match="make sft"):
        train_dpo(dpo_config(tmp_path / "nothing", pairs_dir, tmp_path), tmp_path / "dpo")
