"""Hydra launchers that end every sweep with its answer (train/sweeps.py): a table of the points and the best one.

SweepLocalLauncher runs the points one after another in this process (Hydra's basic launcher); a point that fails
is recorded and the sweep goes on. SweepSlurmLauncher submits each point as a SLURM job through submitit
(hydra-submitit-launcher's SlurmLauncher), so the points run side by side as the cluster allows, and:
- records each point's job id in sweep_jobs.json as soon as it is submitted;
- with tasks_per_node * nodes > 1, runs the point as one data-parallel job, a process per task;
- a job that ends without a result (killed, out of memory, node failure) is a failed row, never a wait: a job
  neither sacct nor squeue knows for LOST_AFTER_S is given up as LOST;
- preemption: submitit requeues the point on the scheduler's signal and the rerun resumes from its checkpoint.
A sweep with a failed point exits with status 1 after the table, naming the failed points.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any, List, Sequence

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import OmegaConf

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

log = logging.getLogger(__name__)

# A job that neither sacct nor squeue knows for this long is given up (accounting down and the job gone);
# ten times as long while squeue itself fails (the controller may come back with the job still running).
LOST_AFTER_S = 120.0
# Seconds between state checks: short while a sweep is young, at most a minute later, to spare the scheduler.
POLL_MIN_S, POLL_MAX_S = 2.0, 60.0
# Accounting states of a job that may still produce its result (a suspended or requeued job comes back).
ACTIVE_STATES = {
    "READY",
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "COMPLETING",
    "CONFIGURING",
    "RESIZING",
    "SUSPENDED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "SIGNALING",
    "STAGE_OUT",
    "RESV_DEL_HOLD",
}


def point_folder(launcher, overrides: Sequence[str]) -> tuple[Path, Path]:
    """(the sweep folder, this point's folder) as Hydra will name them for these overrides."""
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    sweep_dir = Path(str(cfg.hydra.sweep.dir))
    return sweep_dir, sweep_dir / str(cfg.hydra.sweep.subdir)


def _title(launcher, kind: str) -> str:
    return f"{launcher.config.hydra.job.name} sweep ({kind}) in {launcher.config.hydra.sweep.dir}"


def _finish(sweep_dir: Path, points, title: str) -> None:
    """Write and print the table; a sweep with a failed point then ends with one line and status 1."""
    from train.sweeps import COMPLETED, point_label, shared_overrides, write_summary

    text = write_summary(sweep_dir, points, title)
    print("\n" + text + f"(written to {sweep_dir / 'sweep_summary.md'})", flush=True)
    failed = [p for p in points if p.state != COMPLETED]
    if failed:
        shared = shared_overrides(points)
        names = "; ".join(f"{point_label(p, shared)}: {p.state}" for p in failed)
        raise SystemExit(
            f"error: {len(failed)} of {len(points)} sweep points did not complete ({names}); "
            f"see {sweep_dir / 'sweep_summary.md'}"
        )


class SweepLocalLauncher(BasicLauncher):
    """Hydra's basic launcher, one point at a time, ending with the sweep's table."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from train.sweeps import read_point

        returns, points, sweep_dir = [], [], None
        for offset, overrides in enumerate(job_overrides):
            sweep_dir, folder = point_folder(self, overrides)
            label = list(filter_overrides(overrides))
            try:
                ret = super().launch([overrides], initial_job_idx + offset)[0]
                state, note = (
                    ("COMPLETED", "")
                    if ret.status == JobStatus.COMPLETED
                    else ("FAILED", f"{type(ret._return_value).__name__}: {ret._return_value}")
                )
            except SystemExit as stop:  # a stage's one-line refusal ends that point, not the sweep
                ret, state, note = None, "FAILED", str(stop.code)
            returns.append(ret)
            points.append(read_point(folder, label, "local", state, note))
        _finish(sweep_dir, points, _title(self, "local"))
        return returns


class SweepSlurmLauncher(SlurmLauncher):
    """hydra-submitit-launcher's SLURM launcher, with job ids recorded, failures reported and the sweep's table."""

    def __call__(
        self, sweep_overrides: List[str], job_dir_key: str, job_num: int, job_id: str, singleton_state
    ) -> JobReturn:
        import submitit

        if submitit.JobEnvironment().num_tasks > 1:
            import torch

            # one process per task: RANK, LOCAL_RANK, WORLD_SIZE and MASTER_ADDR/PORT for torch.distributed
            # (accelerate)
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
            if not torch.cuda.is_available():
                os.environ.setdefault(
                    "ACCELERATE_USE_CPU", "true"
                )  # no GPU: DDP over gloo, as `accelerate launch --cpu`
        return super().__call__(sweep_overrides, job_dir_key, job_num, job_id, singleton_state)

    def _executor(self):
        """submitit's executor with this launcher's parameters (the same mapping as hydra-submitit-launcher's)."""
        import submitit

        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        params = dict(self.params)
        executor = submitit.AutoExecutor(
            cluster="slurm", folder=params.pop("submitit_folder"), slurm_max_num_timeout=params.pop("max_num_timeout")
        )
        common = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in common else f"slurm_{k}": v for k, v in params.items()})
        return executor

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from train.sweeps import SUBMITTED, SweepJobs

        assert self.config is not None and len(job_overrides) > 0
        folders = [point_folder(self, overrides) for overrides in job_overrides]
        sweep_dir = folders[0][0]
        sweep_dir.mkdir(parents=True, exist_ok=True)
        labels = [list(filter_overrides(overrides)) for overrides in job_overrides]
        job_params: List[Any] = [
            (
                list(overrides),
                "hydra.sweep.dir",
                initial_job_idx + i,
                f"job_id_for_{initial_job_idx + i}",
                Singleton.get_state(),
            )
            for i, overrides in enumerate(job_overrides)
        ]
        jobs = self._executor().map_array(self, *zip(*job_params))
        record = SweepJobs(
            [
                {"overrides": label, "folder": str(folder), "job_id": job.job_id, "state": SUBMITTED}
                for label, (_, folder), job in zip(labels, folders, jobs)
            ]
        )
        record.save(sweep_dir)
        for label, job in zip(labels, jobs):
            log.info(f"submitted job {job.job_id}: {' '.join(label) or '(defaults)'}")
        print(
            f"submitted {len(jobs)} SLURM jobs ({', '.join(j.job_id for j in jobs)}); "
            f"logs in {self.params['submitit_folder']}",
            flush=True,
        )

        outcomes = wait_for_jobs(jobs, labels)
        returns, points = [], []
        from train.sweeps import read_point

        for entry, label, (_, folder), job in zip(record.points, labels, folders, jobs):
            ret, state, note = outcomes[job.job_id]
            entry.update(state=state, note=note)
            returns.append(ret)
            points.append(read_point(folder, label, job.job_id, state, note))
        record.save(sweep_dir)
        _finish(sweep_dir, points, _title(self, "SLURM"))
        return returns


def _queued_ids() -> set[str] | None:
    """The job ids squeue lists (array tasks one by one), or None when squeue itself fails."""
    try:
        done = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(done.stdout.split()) if done.returncode == 0 else None


def _last_error_line(job) -> str:
    """The line a failed point's log says why in: a stage's `error: ...`, else the last line of stderr."""
    try:
        text = job.stderr() or ""
    except Exception:  # noqa: BLE001 - no log is an answer too
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [
        line for line in lines if line.startswith("error:") or line.split(":")[0].endswith(("Error", "Exception"))
    ]
    return (errors or lines or ["no log"])[-1][:300]


def _accounting_states(job_ids) -> dict[str, str]:
    """{job id: state} from sacct, one call for the whole sweep ("CANCELLED by 0" -> CANCELLED); {} when sacct
    fails."""
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    try:
        done = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(arrays)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode != 0:
        return {}
    states = {}
    for line in done.stdout.splitlines():
        job_id, _, state = line.partition("|")
        if state.split():
            states[job_id.strip()] = state.split()[0].upper()
    return states


def _result(job, state: str):
    """(JobReturn or None, state, note) of a job the scheduler has finished with: task 0's result, as submitit's
    own launcher returns it, read without submitit's wait (which polls accounting on its own, slower, schedule)."""
    from submitit.core.utils import pickle_load

    first_task = job._sub_jobs[0] if job._sub_jobs else job
    path = first_task.paths.result_pickle
    # a completed job's result may take a moment to appear on a shared file system; other states have none to wait for
    deadline = time.time() + (15 if state == "COMPLETED" else 0)
    while not path.exists() and time.time() < deadline:
        time.sleep(1)
    if not path.exists():
        return None, state if state != "COMPLETED" else "FAILED", _last_error_line(job)
    outcome, ret = pickle_load(path)
    if outcome != "success":
        return None, "FAILED", str(ret).strip().splitlines()[-1][:300]
    if ret.status == JobStatus.COMPLETED:
        return ret, "COMPLETED", ""
    return ret, "FAILED", f"{type(ret._return_value).__name__}: {ret._return_value}"[:300]


def wait_for_jobs(jobs, labels) -> dict:
    """{job id: (JobReturn or None, state, note)} once every job has its result or is known to have none.

    A job is finished when the scheduler no longer queues it and accounting gives its final state; one that
    neither knows for LOST_AFTER_S (accounting down, job gone) is LOST. One sacct and one squeue call per check
    cover every job of the sweep."""
    outcomes, unknown_since, start = {}, {}, time.time()
    while len(outcomes) < len(jobs):
        time.sleep(min(POLL_MAX_S, max(POLL_MIN_S, (time.time() - start) / 20)))
        states = _accounting_states([job.job_id for job in jobs if job.job_id not in outcomes])
        queue = _queued_ids()
        for job, label in zip(jobs, labels):
            if job.job_id in outcomes:
                continue
            state = states.get(job.job_id, "UNKNOWN")
            in_queue = None if queue is None else job.job_id in queue
            if state in ACTIVE_STATES or in_queue:
                unknown_since.pop(job.job_id, None)
                continue
            if state == "UNKNOWN":
                if in_queue is False and (job._sub_jobs[0] if job._sub_jobs else job).paths.result_pickle.exists():
                    state = "COMPLETED"  # accounting lags or is down, but the job left its result
                else:
                    # a controller that does not answer may still be running the job: give it longer
                    limit = LOST_AFTER_S if in_queue is False else 10 * LOST_AFTER_S
                    if time.time() - unknown_since.setdefault(job.job_id, time.time()) >= limit:
                        outcomes[job.job_id] = (
                            None,
                            "LOST",
                            f"neither sacct nor squeue has known job {job.job_id} for {limit:.0f} s; no result",
                        )
                        print(
                            f"point {' '.join(label) or '(defaults)'}: "
                            f"LOST (job {job.job_id}, {time.time() - start:.0f} s)",
                            flush=True,
                        )
                    continue
            outcomes[job.job_id] = _result(job, state)
            print(
                f"point {' '.join(label) or '(defaults)'}: {outcomes[job.job_id][1]} "
                f"(job {job.job_id}, {time.time() - start:.0f} s)",
                flush=True,
            )
    return outcomes
