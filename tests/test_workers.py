"""Dialogues played in several processes (debtgpt/workers.py): the same trajectories as in one, and clear errors."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from data_gen.make_data import make_data
from data_gen.rollouts import make_rollouts
from debtgpt.runner import DialogueJob, run_dialogues
from debtgpt.workers import AgentsNotBuilt, cpu_cores, play_in_workers, play_jobs_in_workers, worker_count
from pipeline.config import DataConfig, RolloutsConfig
from tests.conftest import make_scenarios

CPU_MODEL = {"kind": "hf", "model": "tiny", "device": "cpu"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    make_data(OmegaConf.structured(DataConfig(num_records=30, out_dir=str(out))))
    return out


def test_auto_takes_a_process_per_core_only_where_a_model_runs_on_this_cpu():
    assert worker_count(0, [CPU_MODEL]) == cpu_cores()
    assert worker_count(0, []) == 1  # scripted agents only
    assert worker_count(0, [{"kind": "openai", "model": "gpt-4o"}]) == 1  # the server batches
    assert worker_count(0, [{**CPU_MODEL, "device": "cuda"}]) == 1
    assert worker_count(3, []) == 3
    with pytest.raises(ValueError, match="workers=-1 must be >= 0"):
        worker_count(-1, [CPU_MODEL])


def test_rollouts_in_two_processes_write_the_shards_of_one(data_dir, tmp_path):
    shards = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        cfg = RolloutsConfig(
            collector="tiny-llm",
            data_dir=str(data_dir),
            out_dir=str(out),
            max_scenarios=3,
            samples_per_scenario=2,
            shard_size=2,
            max_turns=6,
            workers=workers,
            progress=False,
        )
        card = make_rollouts(OmegaConf.structured(cfg))
        assert card["counts"]["dialogues"] == 6
        shards[workers] = {p.name: p.read_bytes() for p in sorted((out / "shards").glob("shard-*.jsonl"))}
    assert len(shards[1]) == 3 and shards[1] == shards[2]


def test_jobs_in_workers_come_back_in_job_order_as_played_in_one_process():
    from debtgpt.agents.factory import AgentFactory

    jobs = [DialogueJob(s, sample) for s in make_scenarios(3) for sample in range(2)]
    agents = AgentFactory()
    alone = run_dialogues(jobs, agents.collector("tiny-llm"), agents.debtor("scripted"), seed=3, max_turns=6)
    finished = []
    played = play_jobs_in_workers(jobs, "tiny-llm", "scripted", workers=2, seed=3, max_turns=6, batch_size=4)
    assert [t.to_dict() for t in played] == [t.to_dict() for t in alone]
    agents.close()

    groups = [jobs[:2], jobs[2:]]
    by_group = dict(
        play_in_workers(
            groups,
            "tiny-llm",
            "scripted",
            workers=2,
            seed=3,
            max_turns=6,
            batch_size=4,
            on_finished=lambda: finished.append(1),
        )
    )
    assert [t.key() for t in by_group[0] + by_group[1]] == [t.key() for t in alone]
    assert len(finished) == len(jobs)  # each finished dialogue reported once


def test_a_collector_a_worker_cannot_build_is_named():
    jobs = [DialogueJob(s, 0) for s in make_scenarios(1)]
    with pytest.raises(AgentsNotBuilt, match="collector 'no-such-collector' could not be built"):
        list(play_in_workers([jobs], "no-such-collector", "scripted", workers=2, seed=0, max_turns=4, batch_size=1))
