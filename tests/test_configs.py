"""Every stage's real YAML composes through Hydra into its typed schema, and the schema is the one home of
its defaults (like verl's tests/workers/config/test_actor_config_on_cpu.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pipeline.cli import config_error_line
from pipeline.config import (
    CONFIG_DIR,
    DataConfig,
    DPORunConfig,
    EvalConfig,
    PairsConfig,
    PublishConfig,
    RolloutsConfig,
    ServeConfig,
    SFTRunConfig,
    register_configs,
    stage_config,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = {
    "data": DataConfig,
    "eval": EvalConfig,
    "rollouts": RolloutsConfig,
    "pairs": PairsConfig,
    "sft": SFTRunConfig,
    "dpo": DPORunConfig,
    "sweep": SFTRunConfig,
    "publish": PublishConfig,
    "serve": ServeConfig,
}
EXPERIMENTS = {
    "rollouts": ["sft_rollouts"],
    "pairs": ["sft_pairs"],
    "sft": ["sft_qwen2.5-0.5b", "sft_qwen2.5-7b-instruct"],
    "dpo": ["dpo_qwen2.5-7b-instruct"],
}
CASES = [(stage, []) for stage in SCHEMAS] + [
    (stage, [f"+experiment={e}"]) for stage, names in EXPERIMENTS.items() for e in names
]


@pytest.mark.parametrize("stage,overrides", CASES, ids=[" ".join([s, *o]) for s, o in CASES])
def test_every_stage_yaml_composes_into_its_schema(stage, overrides):
    cfg = stage_config(stage, overrides)
    assert OmegaConf.get_type(cfg) is SCHEMAS[stage]
    assert isinstance(OmegaConf.to_object(cfg), SCHEMAS[stage])  # every field set and of its type


@pytest.mark.parametrize("stage", ["data", "eval", "sft", "dpo", "publish", "serve", "rollouts", "pairs"])
def test_a_stage_yaml_restates_no_schema_default(stage):
    written = yaml.safe_load((CONFIG_DIR / f"{stage}.yaml").read_text())
    # only what needs Hydra to resolve: names that follow the model group's choice
    assert set(written) - {"defaults", "hydra"} <= {"run", "init_from"}


def test_the_defaults_are_those_make_runs():
    sft, dpo = stage_config("sft"), stage_config("dpo")
    assert (sft.run, sft.learning_rate, sft.num_train_epochs, sft.lora.enabled) == ("sft-tiny", 2e-3, 2.0, False)
    assert (dpo.run, dpo.learning_rate, dpo.level, dpo.init_from, dpo.lora.enabled) == (
        "dpo-tiny",
        2e-5,
        "accept",
        "checkpoints/sft-tiny/final",
        True,
    )
    assert stage_config("dpo", ["model=qwen2.5-0.5b"]).init_from == "checkpoints/sft-qwen2.5-0.5b/final"
    publish = stage_config("publish")
    assert (publish.metrics, publish.collector) == ("reports/demo/metrics.json", "dpo")
    assert re.fullmatch(r"\d{8}-\d{6}", stage_config("eval").run)  # a report folder per start time unless named


@pytest.mark.parametrize(
    "stage,override,line",
    [
        ("sft", "precision=fp16", "precision='fp16' is not allowed; allowed values: auto, fp32, bf16"),
        ("sft", "overlength=truncate", "overlength='truncate' is not allowed; allowed values: fail, drop"),
        ("sft", "final_weights=both", "final_weights='both' is not allowed; allowed values: merged, adapter"),
        ("sft", "model.dtype=half", "model.dtype='half' is not allowed; allowed values: auto, float32, bfloat16"),
        ("dpo", "wandb.mode=on", "wandb.mode='on' is not allowed; allowed values: auto, online, offline, disabled"),
        ("dpo", "level=episode", "level='episode' is not allowed; allowed values: turn, dialogue, accept"),
        ("sft", "lrr=1", "lrr: Key 'lrr' not in 'SFTRunConfig'"),
    ],
)
def test_a_bad_override_names_the_field_and_its_allowed_values(stage, override, line):
    register_configs()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        with pytest.raises(Exception) as raised:
            compose(stage, overrides=[override])
    assert config_error_line(raised.value) == line


def test_a_stage_ends_a_bad_choice_with_one_error_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "data_gen.make_data", "source=csv", f"out_dir={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr == "error: source='csv' is not allowed; allowed values: synthetic, ctgan\n"
    assert not any(tmp_path.iterdir())


def test_make_sft_dpo_and_eval_are_the_demos_recipe():
    """The demo runs the stages with their defaults (and a seed), so `make sft && make dpo && make eval` trains and
    scores the models it describes."""
    demo = (REPO / "Makefile").read_text().split("\ndemo:")[1].split("\n\n")[0]
    stages = re.findall(r'"([^"]+)"', demo)
    assert {"train.sft seed=$(SEED)", "train.dpo seed=$(SEED)", "eval.run run=demo seed=$(SEED)"} <= set(stages)
    sft, dpo, evaluation = stage_config("sft", []), stage_config("dpo", []), stage_config("eval", [])
    pairs = stage_config("pairs", ["+experiment=sft_pairs"])
    assert sft.run == "sft-tiny" and sft.max_steps == 250 and not sft.lora.enabled
    assert dpo.init_from == "checkpoints/sft-tiny/final" and dpo.level.name == "accept"
    assert dpo.pairs_dir == pairs.out_dir and list(pairs.sets) == ["dpo_accept"]
    assert list(dpo.decision_tokens) == [160, 160] and dpo.sft_weight == 1.0
    negatives = pairs.accept_negatives
    kinds = (negatives.corrections, negatives.positives, negatives.twins, negatives.hardship_twins)
    assert kinds == (1.0, 0.0, 1.0, 0.0) and negatives.format_twins == 0.0
    assert list(evaluation.collectors) == ["expert", "untrained", "sft", "dpo"] and evaluation.split == "test"
    for trained in ("sft", "dpo"):  # evaluated greedy, the decoding chosen on validation (round 21)
        collector = yaml.safe_load((CONFIG_DIR / "agents" / "collector" / f"{trained}.yaml").read_text())
        assert collector["sampling"]["temperature"] == 0.0


def test_eval_compares_the_recipes_collectors_unless_told_otherwise():
    from eval.run import recipe_defaults

    recipe = stage_config("eval", [])
    assert recipe_defaults(recipe) == (["dpo:sft", "sft:untrained", "dpo:expert"], "dpo:sft", "checkpoints/dpo-tiny")
    baselines = stage_config("eval", ["collectors=[firm,expert]"])
    assert recipe_defaults(baselines) == ([], None, None)  # nothing to compare, rather than a refusal
    told = stage_config("eval", ["collectors=[firm,expert]", "compare=[expert:firm]", "explain=null"])
    assert recipe_defaults(told) == (["expert:firm"], None, None)


@pytest.mark.parametrize("old", ["lr", "epochs", "batch_size", "grad_accum", "warmup"])
def test_an_old_training_setting_name_fails_in_one_line_that_gives_trls_name(old):
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError

    from pipeline.cli import config_error_line
    from pipeline.config import RENAMED_SETTINGS, reject_unknown_keys, stage_config

    new = RENAMED_SETTINGS[old]
    with pytest.raises(ConfigKeyError) as composed:  # `lr=1e-3` on the command line
        OmegaConf.merge(stage_config("sft"), {old: 1})
    assert config_error_line(composed.value).startswith(f"{old} is now {new}, TRL's own name: write {new}=")
    added = OmegaConf.merge(OmegaConf.create(OmegaConf.to_container(stage_config("dpo"))), {old: 1})  # `+lr=1e-3`
    with pytest.raises(ValueError, match=f"^{old} is now {new}, TRL's own name"):
        reject_unknown_keys(added, type(stage_config("dpo")._metadata.object_type()))
    assert getattr(stage_config("sft"), new) is not None  # the new name is a field TRL's config has
