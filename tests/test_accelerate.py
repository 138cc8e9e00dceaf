"""SFT under `accelerate launch`: two CPU processes (DDP over gloo); the accelerate config files parse and leave
gradient accumulation to the trainer (DeepSpeed) and the weights to one rank (FSDP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workload import SFT_SET, write_workload

REPO = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = ("single_gpu", "multi_gpu_ddp", "fsdp", "deepspeed_zero3")


@pytest.mark.slow
def test_sft_on_two_cpu_processes(tiny_model_dir, tmp_path):
    data = write_workload(tmp_path / "pairs", n_scenarios=2) / SFT_SET
    env = {**os.environ, "WANDB_MODE": "disabled", "DEBTGPT_TINY_DIR": str(tiny_model_dir), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "2",
        "--cpu",
        "-m",
        "train.sft",
        "max_steps=1",
        "per_device_train_batch_size=1",
        f"data={data}",
        f"checkpoints_dir={tmp_path}",
        "run=ddp",
        "+trl.disable_tqdm=true",
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    final = tmp_path / "ddp" / "final"
    assert (final / "model.safetensors").is_file() and (final / "tokenizer.json").is_file()
    card = json.loads((final / "train_card.json").read_text())
    assert card["global_step"] == 1
    assert done.stdout.count("saved ") == 1  # milestones print from the main process only


@pytest.mark.parametrize("name", ACCELERATE_CONFIGS)
def test_accelerate_config_files_are_complete(name):
    config = yaml.safe_load((REPO / "configs" / "accelerate" / f"{name}.yaml").read_text())
    assert config["mixed_precision"] == "bf16" and config["num_machines"] == 1
    assert (
        config["distributed_type"]
        == {"single_gpu": "NO", "multi_gpu_ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED"}[name]
    )
    if name == "deepspeed_zero3":
        assert config["deepspeed_config"]["zero_stage"] == 3


def launch_environment(name: str) -> dict:
    """The environment `accelerate launch --config_file configs/accelerate/NAME.yaml` gives the training processes."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    path = REPO / "configs" / "accelerate" / f"{name}.yaml"
    args, defaults, _ = _validate_launch_command(
        launch_command_parser().parse_args(["--config_file", str(path), "-m", "train.sft"])
    )
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command sets it
        return prepare_deepspeed_cmd_env(args)[1]
    return prepare_multi_gpu_env(args)


def test_deepspeed_takes_gradient_accumulation_and_clipping_from_the_trainer(monkeypatch):
    from accelerate.utils import DeepSpeedPlugin

    env = launch_environment("deepspeed_zero3")
    for key, value in env.items():
        if key.startswith("ACCELERATE_"):
            monkeypatch.setenv(key, value)
    plugin = DeepSpeedPlugin()  # what TrainingArguments builds under accelerate launch
    assert plugin.deepspeed_config["gradient_accumulation_steps"] == "auto"
    assert plugin.deepspeed_config["gradient_clipping"] == "auto"
    assert plugin.zero3_init_flag and plugin.deepspeed_config["zero_optimization"]["stage"] == 3
    # the 7B presets' gradient_accumulation_steps: 8 fills the auto value instead of clashing with a fixed one
    mismatches = []
    plugin.fill_match("gradient_accumulation_steps", mismatches, gradient_accumulation_steps=8)
    plugin.fill_match("gradient_clipping", mismatches, gradient_clipping=1.0)
    assert mismatches == [] and plugin.deepspeed_config["gradient_accumulation_steps"] == 8


def test_fsdp_loads_the_weights_on_one_rank_only():
    env = launch_environment("fsdp")
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
