"""Rollouts for rejection sampling: N dialogues per training scenario, scored with the reward, in shards.

    python -m data_gen.rollouts collector=expert samples_per_scenario=4
    python -m data_gen.rollouts max_scenarios=8 samples_per_scenario=2 shard_size=4 out_dir=/tmp/rollouts

Writes <out_dir>/shards/shard-NNNNN.jsonl (one Trajectory.to_dict per line, with reward and reward_parts),
plan.json, card.json (config, seed, versions, counts per archetype, reward spread) and timing.json
(dialogues per second: kept out of the data so that the same seed gives byte-identical shards).
Interrupted, it resumes: complete shards are verified and skipped, the others are run again.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import hydra
from omegaconf import OmegaConf

from pipeline.cli import run_stage, skip_unused_imports, stage_errors
from pipeline.config import RolloutsConfig, register_configs, require_at_least

log = logging.getLogger(__name__)
register_configs()


def rollouts_card(cfg: dict, trajectories, shards: int) -> dict:
    """Counts overall and per archetype, and the spread of rewards."""
    from debtgpt.constants import ARCHETYPES
    from debtgpt.io import package_versions
    from debtgpt.reward import reward_spread

    def summary(group) -> dict:
        return {
            "dialogues": len(group),
            "scenarios": len({t.scenario.id for t in group}),
            "deals": sum(t.success for t in group),
            "outcomes": {o: sum(t.outcome == o for t in group) for o in sorted({t.outcome for t in group})},
            "reward": reward_spread(t.reward for t in group),
        }

    return {
        "stage": "rollouts",
        "command": " ".join(["python -m data_gen.rollouts", *sys.argv[1:]]),
        "config": cfg,
        "seed": cfg["seed"],
        "collector": cfg["collector"],
        "debtor": cfg["debtor"],
        "max_turns": cfg["max_turns"],
        "versions": package_versions(),
        "counts": {"dialogues": len(trajectories), "shards": shards, **summary(trajectories)},
        "by_archetype": {a: summary([t for t in trajectories if t.archetype == a]) for a in ARCHETYPES},
        "complete": True,
    }


def make_rollouts(cfg: RolloutsConfig) -> dict:
    """Run every shard that is not complete yet, then write the card; returns the card."""
    from tqdm.auto import tqdm

    from data_gen.shards import (
        CARD_FILE,
        check_plan,
        chunk_jobs,
        digest,
        job_key,
        record_shard,
        remove_temporaries,
        shard_complete,
        shard_path,
    )
    from debtgpt.agents.factory import AgentFactory, check_agents
    from debtgpt.dialogue import Trajectory
    from debtgpt.io import read_jsonl, write_json, write_jsonl
    from debtgpt.reward import check_weights, score_all
    from debtgpt.runner import DialogueJob, run_dialogues
    from debtgpt.scenarios import load_scenarios
    from debtgpt.workers import play_in_workers, worker_count

    require_at_least(
        1, samples_per_scenario=cfg.samples_per_scenario, batch_size=cfg.batch_size, shard_size=cfg.shard_size
    )
    require_at_least(2, max_turns=cfg.max_turns)
    if cfg.max_scenarios is not None:
        require_at_least(1, max_scenarios=cfg.max_scenarios)
    # every agent can run before the first dialogue
    backends = check_agents([cfg.collector], [cfg.debtor], [cfg.judge])
    workers = worker_count(cfg.workers, backends)
    check_weights(cfg.reward)
    config = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True) if not isinstance(cfg, dict) else cfg
    scenarios = load_scenarios(cfg.data_dir, cfg.split)[: cfg.max_scenarios]
    agents = AgentFactory()  # one factory: agents with the same backend settings share one engine
    judge = agents.judge(cfg.judge)
    # several workers build their own collector and debtor (debtgpt/workers.py); one plays them here
    collector, debtor = (agents.collector(cfg.collector), agents.debtor(cfg.debtor)) if workers == 1 else (None, None)
    shared_dice = cfg.debtor_dice == "scenario"
    jobs = [
        DialogueJob(s, sample, debtor_dice=0 if shared_dice else None)
        for s in scenarios
        for sample in range(cfg.samples_per_scenario)
    ]
    shards = chunk_jobs(jobs, cfg.shard_size)
    out = Path(cfg.out_dir)
    plan = {
        "collector": cfg.collector,
        "debtor": cfg.debtor,
        "seed": cfg.seed,
        "max_turns": cfg.max_turns,
        "split": cfg.split,
        "scenarios": len(scenarios),
        "scenarios_digest": digest([s.to_dict() for s in scenarios]),
        "samples_per_scenario": cfg.samples_per_scenario,
        "shard_size": cfg.shard_size,
        "judge": cfg.judge,
    }  # the reward is not part of the plan: pairs scores again from the dialogues
    if shared_dice:  # only then, so that the plans of earlier rollouts still match
        plan["debtor_dice"] = "scenario"
    check_plan(out, plan, overwrite=cfg.overwrite)
    removed = remove_temporaries(out)
    expected = [[job_key(job, cfg.collector) for job in shard] for shard in shards]
    done = {i for i in range(len(shards)) if shard_complete(out, i, expected[i])}
    todo = [i for i in range(len(shards)) if i not in done]
    print(
        f"rollouts: {len(jobs)} dialogues ({len(scenarios)} {cfg.split} scenarios x {cfg.samples_per_scenario}) "
        f"in {len(shards)} shards; {len(done)} already complete"
        f"{f', {removed} partial writes removed' if removed else ''} -> {out}"
    )

    bar = tqdm(
        total=len(jobs),
        initial=sum(len(shards[i]) for i in done),
        disable=not cfg.progress,
        unit="dlg",
        desc=f"rollouts {cfg.collector}",
    )
    started, ran = time.perf_counter(), 0

    def finish_shard(i: int, trajectories: list) -> None:
        if judge is not None:
            for trajectory, scores in zip(trajectories, judge.score(trajectories)):
                trajectory.judge_scores = scores
        score_all(trajectories, cfg.reward)
        write_jsonl(shard_path(out, i), (t.to_dict() for t in trajectories))
        record_shard(out, i)
        if cfg.shard_delay_s > 0:
            time.sleep(cfg.shard_delay_s)

    try:
        settings = dict(seed=cfg.seed, max_turns=cfg.max_turns, batch_size=cfg.batch_size)
        if workers > 1:
            shards_todo = [shards[i] for i in todo]
            played = play_in_workers(
                shards_todo, cfg.collector, cfg.debtor, workers=workers, on_finished=lambda: bar.update(1), **settings
            )
        else:
            played = (
                (k, run_dialogues(shards[i], collector, debtor, on_finished=lambda _: bar.update(1), **settings))
                for k, i in enumerate(todo)
            )
        for k, trajectories in played:  # workers yield each shard when it is done, in any order
            finish_shard(todo[k], trajectories)
            ran += len(trajectories)
    finally:
        bar.close()
        agents.close()
    seconds = time.perf_counter() - started

    everything = [Trajectory.from_dict(row) for i in range(len(shards)) for row in read_jsonl(shard_path(out, i))]
    keys = [t.key() for t in everything]
    if keys != [k for shard in expected for k in shard]:
        raise RuntimeError(f"{out}: shards do not hold exactly the planned dialogues; delete the folder and rerun")
    card = rollouts_card(config, everything, len(shards))
    write_json(out / CARD_FILE, card)
    write_json(
        out / "timing.json",
        {
            "dialogues_run": ran,
            "shards_run": len(todo),
            "shards_skipped": len(done),
            "seconds": round(seconds, 3),
            "dialogues_per_second": round(ran / seconds, 2) if ran and seconds > 0 else None,
        },
    )
    return card


@hydra.main(config_path="../configs", config_name="rollouts", version_base="1.3")
def main(cfg: RolloutsConfig) -> None:
    with stage_errors(cfg, RolloutsConfig):
        skip_unused_imports(wandb_used=False)
        card = make_rollouts(cfg)
    counts = card["counts"]
    print(
        f"rollouts: {counts['dialogues']} dialogues, {counts['deals']} deals, reward mean {counts['reward']['mean']} "
        f"-> {cfg.out_dir}/card.json"
    )


if __name__ == "__main__":
    run_stage(main)
