"""Sweeps on a real SLURM cluster: scripts/cluster.sh starts a single-node one on 127.0.0.1 (installing Slurm,
munge and mariadb where missing), `make sweep LAUNCHER=slurm_local` submits each point as a job through
hydra-submitit-launcher, a preempted point resumes from its checkpoint to the weights of an uninterrupted run, a
job that dies is a failed row, a 2-task job trains data-parallel, and a restarted cluster has no stale jobs.

Needs root (it runs the daemons). Elsewhere the module is skipped with the command to run, except under CI,
where it fails: CI runs as root, and a skip there would hide the tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from sweep_runs import REPO, make_sweep, running_sweep, summary
from workload import SFT_SET, write_workload

pytestmark = pytest.mark.cluster
CLUSTER = REPO / "scripts" / "cluster.sh"
STATE = Path(os.environ.get("CLUSTER_DIR", REPO / ".cluster"))

if os.geteuid() != 0:
    message = (
        f"the SLURM cluster tests run the Slurm daemons and need root: sudo {CLUSTER} start, then run them as root"
    )
    if os.environ.get("CI"):
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)


def cluster(command: str) -> str:
    done = subprocess.run([str(CLUSTER), command], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"cluster.sh {command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def slurm(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module", autouse=True)
def running_cluster():
    cluster("start")
    yield
    cluster("stop")
    assert not any(STATE.glob("pids/*.pid"))  # every daemon stopped by its recorded PID


@pytest.fixture(scope="module")
def sft_set(tmp_path_factory):
    return write_workload(tmp_path_factory.mktemp("pairs"), n_scenarios=2) / SFT_SET


def accounting(job_id: str) -> dict:
    """sacct's view of a job: its state, name and task count (the job's own line and its steps')."""
    rows = [
        line.split("|")
        for line in slurm(
            "sacct", "-n", "-P", "-j", job_id.split("_")[0], "-o", "JobID,JobName,State,NTasks"
        ).splitlines()
    ]
    return {row[0]: {"name": row[1], "state": row[2], "tasks": row[3]} for row in rows}


def test_a_two_point_sft_sweep_runs_each_point_as_a_slurm_job(tiny_model_dir, sft_set, tmp_path):
    done = make_sweep(
        "learning_rate=1e-3,2e-3",
        f"max_steps=4 per_device_train_batch_size=1 data={sft_set} checkpoints_dir={tmp_path} run=sweep",
        tiny_model_dir,
        launcher="slurm_local",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = summary(tmp_path / "sweep")
    assert [p["state"] for p in table["points"]] == ["COMPLETED", "COMPLETED"]
    for point in table["points"]:
        job = accounting(point["job_id"])[point["job_id"]]
        assert job["state"] == "COMPLETED" and job["name"] == "sft"  # a real job, in the scheduler's own records
        assert Path(point["checkpoint"], "model.safetensors").is_file() and point["global_step"] == 4
    assert table["points"][0]["job_id"] != table["points"][1]["job_id"]
    printed = (tmp_path / "sweep" / "sweep_summary.md").read_text()
    assert printed in done.stdout and "best: learning_rate=" in printed and "| learning_rate=0.001 |" in printed


def wait_for(condition, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen in {seconds} s")


def point_job(sweep_dir: Path, override: str) -> str:
    """The job id of the point with this override, once the launcher has recorded it."""
    jobs = wait_for(
        lambda: (sweep_dir / "sweep_jobs.json").is_file() and json.loads((sweep_dir / "sweep_jobs.json").read_text()),
        60,
        "sweep_jobs.json",
    )
    return next(p["job_id"] for p in jobs if override in p["overrides"])


def test_a_preempted_point_resumes_from_its_checkpoint_to_the_weights_of_an_uninterrupted_run(
    tiny_model_dir, sft_set, tmp_path
):
    from safetensors.torch import load_file

    # two points that train the same thing (save_steps is bookkeeping); the first is preempted after its first save
    sweep_dir = tmp_path / "preempt"
    preempted = lambda: next(iter(sweep_dir.glob("*save_steps=3")), None)  # noqa: E731
    with running_sweep(
        "save_steps=3,4",
        f"learning_rate=1e-3 max_steps=30 per_device_train_batch_size=1 data={sft_set} "
        f"checkpoints_dir={tmp_path} run=preempt",
        tiny_model_dir,
        launcher="slurm_local",
    ) as sweep:
        wait_for(
            lambda: preempted() and (preempted() / "checkpoint-3" / "trainer_state.json").is_file(),
            120,
            "the first checkpoint",
        )
        job_id = point_job(sweep_dir, "save_steps=3")
        slurm("scancel", "--signal=USR2", job_id)  # what SLURM sends before preemption or the time limit
        output, errors = sweep.communicate(timeout=240)
    assert sweep.returncode == 0, output[-3000:] + errors[-3000:]

    log = "".join(p.read_text() for p in sweep_dir.glob(f".submitit/{job_id}/*_log.out"))
    saved = int(log.split("preempted (SIGUSR2) at step ")[1].split(",")[0])
    # checkpointed at the step the signal found, not only at save_steps, and resumed from there
    assert 3 <= saved < 30 and f"resuming from {preempted()}/checkpoint-{saved}" in log
    assert "REQUEUED" in slurm("sacct", "-n", "-X", "-D", "-j", job_id.split("_")[0], "-o", "State")
    table = summary(sweep_dir)
    assert [p["state"] for p in table["points"]] == ["COMPLETED", "COMPLETED"] and table["points"][0][
        "global_step"
    ] == 30
    # bitwise equal on this CPU: the trainer restores the optimizer, scheduler and RNG state and skips the seen batches
    interrupted, uninterrupted = (load_file(str(Path(p["checkpoint"]) / "model.safetensors")) for p in table["points"])
    assert interrupted.keys() == uninterrupted.keys()
    assert all((interrupted[k] == uninterrupted[k]).all() for k in interrupted)


def test_a_job_that_dies_without_a_result_is_a_failed_row_not_a_wait(tiny_model_dir, sft_set, tmp_path):
    sweep_dir = tmp_path / "killed"
    with running_sweep(
        "learning_rate=1e-3",
        f"max_steps=2000 save_steps=2 per_device_train_batch_size=1 data={sft_set} "
        f"checkpoints_dir={tmp_path} run=killed",
        tiny_model_dir,
        launcher="slurm_local",
    ) as sweep:
        wait_for(lambda: any(sweep_dir.glob("*/checkpoint-*/trainer_state.json")), 120, "training")
        job_id = point_job(sweep_dir, "learning_rate=0.001")
        slurm(
            "scancel", "--signal=KILL", job_id
        )  # the process dies at once: no result, no requeue (an OOM kill looks the same)
        output, errors = sweep.communicate(timeout=120)
    assert sweep.returncode != 0 and "error: 1 of 1 sweep points did not complete" in errors, (
        output[-3000:] + errors[-3000:]
    )
    (point,) = summary(sweep_dir)["points"]
    # the scheduler's word for it (a job killed through scancel is CANCELLED), with the checkpoint a rerun resumes from
    assert point["state"] == accounting(job_id)[job_id]["state"].split()[0] and point["state"] in (
        "FAILED",
        "CANCELLED",
    )
    assert point["job_id"] == job_id and "/checkpoint-" in point["checkpoint"]


def test_two_task_data_parallel_sft_as_one_slurm_job(tiny_model_dir, sft_set, tmp_path):
    # 2 dialogues, batch 1, 2 epochs: 4 steps on one process, 2 on two data-parallel ones
    done = make_sweep(
        "learning_rate=1e-3",
        "hydra.launcher.tasks_per_node=2 hydra.launcher.mem_gb=4 max_steps=-1 num_train_epochs=2 "
        "per_device_train_batch_size=1 "
        f"data={sft_set} checkpoints_dir={tmp_path} run=ddp",
        tiny_model_dir,
        launcher="slurm_local",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (point,) = summary(tmp_path / "ddp")["points"]
    assert point["state"] == "COMPLETED" and point["global_step"] == 2
    job = accounting(point["job_id"])
    assert job[f"{point['job_id']}.0"]["tasks"] == "2"  # one job step of two tasks
    logs = sorted(p.name for p in (tmp_path / "ddp" / ".submitit" / point["job_id"]).glob("*_log.out"))
    assert len(logs) == 2


def running(pid: int) -> bool:
    """A live process (a zombie waiting for its parent to reap it is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_a_restarted_cluster_has_no_stale_jobs():
    stale = slurm("sbatch", "--parsable", "--wrap", "sleep 600").strip()
    pids = [int(p.read_text()) for p in STATE.glob("pids/*.pid")]  # what start recorded, one per daemon
    assert len(pids) == 5
    cluster("stop")
    assert not any(running(pid) for pid in pids)
    cluster("start")
    assert slurm("squeue", "-h").strip() == ""
    assert stale not in slurm("sacct", "-n", "-X", "-o", "JobID")
