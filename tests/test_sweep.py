"""Sweeps: `make sweep` with the local launcher ends with a table of its points and the best one; a given SWEEP
replaces the default grid and a point trains what `make sft` trains; the SLURM launcher configs compose; a job that
leaves no result is reported, never waited on. The same sweeps on a real SLURM cluster: tests/test_cluster.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pipeline.config import register_configs

from sweep_runs import REPO, make_sweep, summary
from workload import SFT_SET, write_workload


@pytest.mark.slow
def test_a_two_point_make_sweep_trains_two_models_and_names_the_best(tiny_model_dir, tmp_path):
    data = write_workload(tmp_path / "pairs", n_scenarios=2) / SFT_SET
    # seed, not learning_rate: merged with configs/sweep.yaml's learning_rate grid, this would be four points
    done = make_sweep(
        "seed=0,1",
        f"max_steps=1 per_device_train_batch_size=1 data={data} checkpoints_dir={tmp_path} run=sweep",
        tiny_model_dir,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    points = sorted(p.parent.parent.name for p in (tmp_path / "sweep").glob("*/final/model.safetensors"))
    # the given grid alone: one folder per point, named by its overrides
    assert len(points) == 2 and "seed=0" in points[0] and "seed=1" in points[1] and "learning_rate=" not in points[0]
    assert done.stdout.count("saved ") == 2
    # full fine-tuning, as make sft: merged weights with no adapter, LoRA off in the run's card
    card = json.loads(next((tmp_path / "sweep").glob("*/final/train_card.json")).read_text())
    assert card["config"]["lora"]["enabled"] is False
    table = summary(tmp_path / "sweep")
    assert [p["state"] for p in table["points"]] == ["COMPLETED", "COMPLETED"]
    assert all(p["train_loss"] > 0 and p["checkpoint"].endswith("/final") for p in table["points"])
    best = table["points"][table["best"]]
    assert "training loss" in table["best_by"] and best["train_loss"] == min(p["train_loss"] for p in table["points"])
    printed = (tmp_path / "sweep" / "sweep_summary.md").read_text()
    assert (
        printed in done.stdout
        and "| seed=0 |" in printed
        and f"best: {' '.join(o for o in best['overrides'] if o.startswith('seed='))} (by" in printed
    )


@pytest.mark.slow
def test_a_failed_point_is_a_row_of_the_table_and_the_sweep_exits_1(tiny_model_dir, tmp_path):
    data = write_workload(tmp_path / "pairs", n_scenarios=2) / SFT_SET
    done = make_sweep(
        "learning_rate=-1,1e-3",
        f"max_steps=1 per_device_train_batch_size=1 data={data} checkpoints_dir={tmp_path} run=sweep",
        tiny_model_dir,
    )
    assert done.returncode != 0
    table = summary(tmp_path / "sweep")
    failed, completed = table["points"]
    assert failed["state"] == "FAILED" and "learning_rate=-1.0 must be > 0" in failed["note"]
    assert completed["state"] == "COMPLETED" and table["best"] == 1
    assert "error: 1 of 2 sweep points did not complete (learning_rate=-1" in done.stderr


def test_a_bad_stage_is_refused_in_one_line():
    done = subprocess.run(
        ["make", "-o", ".venv/.installed", "sweep", "STAGE=ppo"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "error: STAGE=ppo is not allowed; allowed values: sft, dpo, eval" in done.stderr


def composed(name: str, overrides=()):
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose(name, overrides=list(overrides), return_hydra_config=True)


def test_a_sweep_point_trains_what_make_sft_trains():
    sweep, sft = composed("sweep"), composed("sft")
    assert dict(sweep.hydra.sweeper.params) == {"learning_rate": "1e-3,2e-3"}
    as_sft = {k: v for k, v in OmegaConf.to_container(sweep).items() if k not in ("hydra", "run")}
    assert as_sft == {k: v for k, v in OmegaConf.to_container(sft).items() if k not in ("hydra", "run")}
    assert sweep.run == "sft-sweep" and not sweep.lora.enabled


def test_the_slurm_launchers_compose_for_every_stage():
    for name in ("sweep", "dpo", "eval"):
        launcher = composed(name, ["hydra/launcher=slurm"]).hydra.launcher
        assert launcher._target_.endswith("SweepSlurmLauncher")
        assert launcher.partition == "gpu" and launcher.gpus_per_node == 1
        # submitit reads a USR2 within 80 % of a limit under 50 minutes as a timeout, not a preemption
        assert launcher.timeout_min >= 50
        assert composed(name).hydra.launcher._target_.endswith("SweepLocalLauncher")
    local = composed("sweep", ["hydra/launcher=slurm_local"]).hydra.launcher
    assert (
        local.partition == "debug"
        and local.gpus_per_node is None
        and local.cpus_per_task == 1
        and local.timeout_min >= 50
    )


def test_a_job_neither_accounting_nor_the_queue_knows_is_lost_not_waited_on(monkeypatch, tmp_path):
    from hydra_plugins.debtgpt_sweep import launchers

    class GoneJob:  # a job whose node died before it wrote anything, on a cluster whose accounting is down
        job_id, _sub_jobs = "41", []

        class paths:
            result_pickle = tmp_path / "41_0_result.pkl"

    monkeypatch.setattr(launchers, "_accounting_states", lambda ids: {})
    monkeypatch.setattr(launchers, "_queued_ids", lambda: set())
    monkeypatch.setattr(launchers, "LOST_AFTER_S", 0.0)
    monkeypatch.setattr(launchers, "POLL_MIN_S", 0.01)
    outcomes = launchers.wait_for_jobs([GoneJob()], [["lr=1e-3"]])
    assert outcomes["41"][0] is None and outcomes["41"][1] == "LOST"


@pytest.mark.slow
def test_a_dpo_sweep_names_the_best_point_by_held_out_preference_accuracy(tiny_model_dir, tmp_path):
    pairs = write_workload(tmp_path / "pairs", n_scenarios=2)
    done = make_sweep(
        "beta=0.1,0.3",
        f"level=turn pairs_dir={pairs} init_from={tiny_model_dir} max_steps=2 per_device_train_batch_size=1 "
        "eval_steps=1 "
        f"heldout_fraction=0.5 checkpoints_dir={tmp_path} run=dpo",
        tiny_model_dir,
        stage="dpo",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = summary(tmp_path / "dpo")
    assert [p["state"] for p in table["points"]] == ["COMPLETED", "COMPLETED"]
    assert {p["heldout_name"] for p in table["points"]} == {"eval_rewards/accuracies"}
    assert table["best_by"] == "eval_rewards/accuracies, higher is better"


@pytest.mark.slow
def test_an_eval_sweep_ranks_its_points_by_the_first_collectors_mean_reward(tmp_path):
    import sys

    subprocess.run(
        [sys.executable, "-m", "data_gen.make_data", f"out_dir={tmp_path / 'data'}", "num_records=30"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    done = make_sweep(
        "seed=0,1",
        f"data_dir={tmp_path / 'data'} collectors=[firm,expert] compare=[] explain=null curves=null max_scenarios=2 "
        f"plots=false progress=false reports_dir={tmp_path} run=ev",
        tmp_path,
        stage="eval",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = summary(tmp_path / "ev")
    rewards = [p["heldout"] for p in table["points"]]
    assert [p["heldout_name"] for p in table["points"]] == ["reward(firm)", "reward(firm)"]
    assert table["points"][table["best"]]["heldout"] == max(rewards)
    assert all((Path(p["checkpoint"]) / "metrics.json").is_file() for p in table["points"])
