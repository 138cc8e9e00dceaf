"""Preemption under a scheduler: the signal is held until the current optimizer step ends, a checkpoint-N/ of that
step is saved, and only then the job runner's own handler runs (submitit's: requeue the job and exit). The requeued
job resumes from that checkpoint (train/checkpoints.py), so a preempted run loses no step.

SLURM sends the signal before it stops a job (--signal=USR2@90 at the time limit, scancel --signal=USR2 or a
preemption). Outside such a job no handler is installed for it and this callback does nothing.
"""

from __future__ import annotations

import os
import signal

from transformers import TrainerCallback

from train.console import say


def preemption_signal() -> int:
    """The signal submitit checkpoints and requeues on (SUBMITIT_PREEMPT_SIGNAL, USR2 by default)."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    if not hasattr(signal, "SIG" + name):
        raise ValueError(
            f"SUBMITIT_PREEMPT_SIGNAL={name!r} is not a signal name; allowed values: USR1, USR2, TERM, ..."
        )
    return getattr(signal, "SIG" + name)


class PreemptionCheckpoint(TrainerCallback):
    """Defer the job runner's preemption handler to the end of the step, after a checkpoint of that step."""

    def __init__(self) -> None:
        self.signum = preemption_signal()
        self.runner_handler = None
        self.pending = False

    def _hold(self, signum, frame) -> None:
        self.pending = True

    def on_train_begin(self, args, state, control, **kwargs):
        current = signal.getsignal(self.signum)
        if callable(current):  # a job runner's handler; the default action (terminate) is not deferred
            self.runner_handler = current
            signal.signal(self.signum, self._hold)

    def _agreed(self, args) -> bool:
        """Every data-parallel process must save at the same step, whichever of them got the signal."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return self.pending
        import torch

        flag = torch.tensor([float(self.pending)], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        self.pending = bool(flag.item())
        return self.pending

    def on_step_end(self, args, state, control, **kwargs):
        if self.runner_handler is not None and self._agreed(args):
            control.should_save = True
        return control

    def _release(self, step: int) -> None:
        if self.runner_handler is not None:
            signal.signal(self.signum, self.runner_handler)
        if self.pending:
            self.pending = False
            say(
                f"preempted ({signal.Signals(self.signum).name}) at step {step}, checkpoint-{step} saved: "
                "handing over to the job runner"
            )
            self.runner_handler(self.signum, None)  # submitit requeues the job and exits here

    def on_save(self, args, state, control, **kwargs):
        if self.pending:
            self._release(state.global_step)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self._release(state.global_step)
        return control
