"""Dialogues on several processes of this machine's CPU, each with its own agents and a share of the cores.

A small model decoding on the CPU spends much of each step in Python and in reading its keys and values, which a
second torch thread barely speeds up: on the 2-core machine of benchmarks/results, the tiny collector's DebtBench
run took 1.18x the time with one thread as with two. Two processes of one thread each, half of the dialogues
each, use both cores fully. Every dialogue draws from its own seeds (the runner's streams, the hf backend's
per-request seeds), so which process plays it changes no draw; tests/test_workers.py checks that the
trajectories are the same as in one process.

`workers=0` (auto) takes one process per core where an agent runs a model on this machine's CPU (an hf backend
off CUDA), and plays in this process otherwise: scripted agents are too fast to pay for a process, a GPU is
shared better by one process's batches, and a server batches its clients' requests itself.
"""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from debtgpt.dialogue import Trajectory
from debtgpt.runner import DialogueJob, run_dialogues

log = logging.getLogger(__name__)


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def runs_on_this_cpu(backend: dict) -> bool:
    """Whether a backend's settings (check_agents' list) run a model in this process on the CPU."""
    if backend.get("kind") != "hf":
        return False
    device = str(backend.get("device", "auto"))
    if device == "auto":
        import torch

        return not torch.cuda.is_available()
    return device.startswith("cpu")


def worker_count(setting: int, backends: list[dict]) -> int:
    """Processes to play dialogues in: `setting` when above 0; for 0 (auto) one per core where a backend runs a
    model on this CPU, else 1."""
    if setting < 0:
        raise ValueError(f"workers={setting} must be >= 0 (0: one per CPU core where a model runs on the CPU)")
    if setting:
        return setting
    return cpu_cores() if any(runs_on_this_cpu(b) for b in backends) else 1


class AgentsNotBuilt(RuntimeError):
    """A worker could not build its collector or debtor (a model that is not there, say)."""


# The agents of a worker process, built once by _start_worker after the fork.
_worker: dict = {}


def _start_worker(collector: str, debtor: str, threads: int, finished) -> None:
    import torch

    from debtgpt.agents.factory import AgentFactory

    # before any tensor work: a forked child must not enter the parent's OpenMP pool
    torch.set_num_threads(threads)
    _worker["finished"] = finished
    factory = AgentFactory()
    for role, name in (("collector", collector), ("debtor", debtor)):
        try:
            _worker[role] = getattr(factory, role)(name)
        except Exception as exc:  # reported by the first group this worker is given (_play)
            _worker["error"] = f"{role} {name!r} could not be built ({type(exc).__name__}: {exc})"
            return


def _play(index: int, jobs: list[DialogueJob], seed: int, max_turns: int, batch_size: int):
    if "error" in _worker:
        raise AgentsNotBuilt(_worker["error"])
    finished = _worker["finished"]
    trajectories = run_dialogues(
        jobs,
        _worker["collector"],
        _worker["debtor"],
        seed=seed,
        max_turns=max_turns,
        batch_size=batch_size,
        on_finished=lambda _: finished.put(1),
    )
    return index, trajectories


def play_in_workers(
    groups: list[list[DialogueJob]],
    collector: str,
    debtor: str,
    *,
    workers: int,
    seed: int,
    max_turns: int,
    batch_size: int,
    on_finished: Callable[[], None] | None = None,
) -> Iterator[tuple[int, list[Trajectory]]]:
    """(index, trajectories) of each group of jobs as soon as a worker has played it, `workers` processes at a time.

    Each process builds the agents by name and runs torch on its share of the cores. `on_finished` is called
    here once per finished dialogue (a progress bar). A group that fails raises here; the groups already yielded
    are kept by the caller.
    """
    import multiprocessing

    import torch

    context = multiprocessing.get_context("fork")  # the parent's imports are shared, not repeated
    finished = context.Queue()
    threads = max(1, torch.get_num_threads() // workers)
    log.info("playing %d groups of dialogues in %d processes of %d torch thread(s)", len(groups), workers, threads)

    reported = 0

    def drain(until: int = 0) -> None:
        """Report the dialogues the workers finished since the last call (waiting a little for `until` of them)."""
        nonlocal reported
        while True:
            try:
                finished.get(timeout=5.0) if reported < until else finished.get_nowait()
            except queue.Empty:
                return
            reported += 1
            if on_finished is not None:
                on_finished()

    with ProcessPoolExecutor(
        max_workers=min(workers, len(groups)) or 1,
        mp_context=context,
        initializer=_start_worker,
        initargs=(collector, debtor, threads, finished),
    ) as pool:
        pending = {pool.submit(_play, i, jobs, seed, max_turns, batch_size) for i, jobs in enumerate(groups)}
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                drain()
                for future in done:
                    yield future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        # a worker's reports travel apart from its results: the last ones may arrive after them
        drain(until=sum(len(jobs) for jobs in groups))


def play_jobs_in_workers(
    jobs: list[DialogueJob],
    collector: str,
    debtor: str,
    *,
    workers: int,
    seed: int,
    max_turns: int,
    batch_size: int,
    progress: bool = False,
    desc: str | None = None,
) -> list[Trajectory]:
    """`run_dialogues` over `workers` processes, each playing every workers-th job; trajectories in job order."""
    from tqdm.auto import tqdm

    trajectories: list = [None] * len(jobs)
    with tqdm(total=len(jobs), desc=desc, unit="dlg", disable=not progress) as bar:
        for w, played in play_in_workers(
            [jobs[w::workers] for w in range(workers)],
            collector,
            debtor,
            workers=workers,
            seed=seed,
            max_turns=max_turns,
            batch_size=batch_size,
            on_finished=lambda: bar.update(1),
        ):
            trajectories[w::workers] = played
    return trajectories
