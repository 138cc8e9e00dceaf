"""Sweeps: Hydra multirun of tiny SFT runs with the basic launcher; the SLURM launcher config composes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from benchmarks.train_throughput import SFT_SET, write_workload
from debtgpt.config import register_configs

REPO = Path(__file__).resolve().parents[1]


def test_a_two_point_make_sweep_trains_two_models(tiny_model_dir, tmp_path):
    data = write_workload(tmp_path / "pairs", n_scenarios=2) / SFT_SET
    env = {**os.environ, "WANDB_MODE": "disabled", "DEBTGPT_TINY_DIR": str(tiny_model_dir)}
    # -o: the test brings its own data and model, so make must not build the default ones first
    command = [
        "make", "-o", ".venv/.installed", "-o", "data/pairs/dpo_turn/card.json", "-o", "checkpoints/tiny/config.json",
        "sweep", "PY=" + sys.executable, "SWEEP=lr=1e-4,3e-4 lora.r=8",
        f"ARGS=max_steps=1 batch_size=1 data={data} checkpoints_dir={tmp_path} run=sweep +trl.disable_tqdm=true",
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    points = sorted(p.parent.parent.name for p in (tmp_path / "sweep").glob("*/final/model.safetensors"))
    # one folder per point, named by its overrides (a rerun of the same sweep resumes each point)
    assert len(points) == 2 and "lr=0.0001" in points[0] and "lr=0.0003" in points[1]
    assert done.stdout.count("saved ") == 2


def test_the_sweep_grid_and_the_slurm_launcher_compose():
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose("sweep", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    assert dict(cfg.hydra.sweeper.params) == {"lr": "1e-3,2e-3", "lora.r": "8,16"}
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 1 and launcher.timeout_min > 0
    assert cfg.run == "sft-sweep" and cfg.lora.enabled
