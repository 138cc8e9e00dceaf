"""A stage refused before it starts work leaves no Hydra run folder behind; one that wrote something keeps it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def stage(cwd, module, *overrides):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", module, *overrides], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_refused_data_stage_leaves_no_outputs_folder(tmp_path):
    for bad in ("num_records=0", "+num_recordz=5"):
        done = stage(tmp_path, "data_gen.make_data", bad, f"out_dir={tmp_path / 'data'}")
        assert done.returncode == 1 and done.stderr.startswith("error: "), done.stderr
        assert list(tmp_path.iterdir()) == []  # neither outputs/data/<timestamp>/ nor outputs/


def test_a_data_stage_that_ran_keeps_its_run_folder(tmp_path):
    done = stage(tmp_path, "data_gen.make_data", "num_records=20", f"out_dir={tmp_path / 'data'}")
    assert done.returncode == 0, done.stderr
    [run] = (tmp_path / "outputs" / "data").iterdir()
    assert (run / ".hydra" / "config.yaml").is_file()


def test_a_refused_eval_drops_a_new_report_folder_and_keeps_an_earlier_report(tmp_path):
    earlier = tmp_path / "reports" / "kept"
    earlier.mkdir(parents=True)
    (earlier / "metrics.json").write_text("{}\n")
    for run in ("fresh", "kept"):
        done = stage(tmp_path, "eval.run", "collectors=[haggler]", f"run={run}")
        assert done.returncode == 1 and "haggler" in done.stderr, done.stderr
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["kept"]
    assert (earlier / "metrics.json").read_text() == "{}\n"


def imported(stderr: str) -> set[str]:
    """Top-level packages in `python -X importtime`'s report."""
    lines = [line for line in stderr.splitlines() if line.startswith("import time:")]
    return {line.split("|")[-1].strip().split(".")[0] for line in lines}


@pytest.mark.slow  # two SFT stages in their own processes
def test_a_training_stage_does_not_load_libraries_it_does_not_use(tiny_model_dir, tmp_path):
    from workload import SFT_SET, write_workload

    data = write_workload(tmp_path / "pairs", n_scenarios=2) / SFT_SET
    env = {**os.environ, "PYTHONPATH": str(REPO), "DEBTGPT_TINY_DIR": str(tiny_model_dir), "WANDB_MODE": "disabled"}
    args = ["max_steps=1", "per_device_train_batch_size=1", f"data={data}", f"checkpoints_dir={tmp_path}"]
    runs = {}
    for run, extra in (("alone", []), ("sweep", ["-m"])):  # a sweep's jobs share one process: nothing is skipped
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "train.sft", *extra, *args, f"run={run}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        runs[run] = imported(done.stderr)
    assert "trl" in runs["alone"] and "transformers" in runs["alone"]
    assert not {"sklearn", "wandb"} & runs["alone"]
    assert {"sklearn", "wandb"} <= runs["sweep"]  # installed, so transformers and TRL load them when allowed
