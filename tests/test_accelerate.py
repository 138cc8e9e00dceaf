"""SFT under `accelerate launch`: two CPU processes (DDP over gloo); the accelerate config files parse."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks.train_throughput import SFT_SET, write_workload

REPO = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = ("single_gpu", "multi_gpu_ddp", "fsdp", "deepspeed_zero3")


def test_sft_on_two_cpu_processes(tiny_model_dir, tmp_path):
    data = write_workload(tmp_path / "pairs", n_scenarios=2) / SFT_SET
    env = {**os.environ, "WANDB_MODE": "disabled", "DEBTGPT_TINY_DIR": str(tiny_model_dir), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--cpu", "-m", "train.sft",
        "max_steps=1", "batch_size=1", f"data={data}", f"checkpoints_dir={tmp_path}", "run=ddp", "+trl.disable_tqdm=true",
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
    assert config["distributed_type"] == {"single_gpu": "NO", "multi_gpu_ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED"}[name]
    if name == "deepspeed_zero3":
        assert config["deepspeed_config"]["zero_stage"] == 3
