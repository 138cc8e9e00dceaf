"""`make sweep` as a user runs it, on the test's own tiny model and SFT set (tests/test_sweep.py,
tests/test_cluster.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sweep_command(sweep: str, args: str, launcher: str, stage: str) -> list[str]:
    # -o: the test brings its own data and model, so make must not build the default ones first
    built = (
        ".venv/.installed",
        "data/pairs/sft/card.json",
        "checkpoints/tiny/config.json",
        "data/pairs-sft/dpo_accept/card.json",
        "checkpoints/sft-tiny/final/config.json",
        "data/card.json",
    )
    return [
        "make",
        *(f"-o{target}" for target in built),
        "sweep",
        "PY=" + sys.executable,
        f"STAGE={stage}",
        f"LAUNCHER={launcher}",
        f"SWEEP={sweep}",
        f"ARGS={args}" + (" +trl.disable_tqdm=true" if stage != "eval" else ""),
    ]


@contextmanager
def running_sweep(sweep: str, args: str, tiny_model_dir, launcher: str = "local", stage: str = "sft"):
    """`make sweep` in its own process group, which is ended on the way out: a failed test leaves no sweep waiting."""
    env = {**os.environ, "WANDB_MODE": "disabled", "DEBTGPT_TINY_DIR": str(tiny_model_dir), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        sweep_command(sweep, args, launcher, stage),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def make_sweep(sweep: str, args: str, tiny_model_dir, launcher: str = "local", stage: str = "sft", timeout: int = 300):
    """Run `make sweep` to its end: a CompletedProcess with its output."""
    with running_sweep(sweep, args, tiny_model_dir, launcher, stage) as process:
        stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def summary(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "sweep_summary.json").read_text())
