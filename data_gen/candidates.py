"""Turn-level rejection sampling, step 1 of 3: branch points, candidates, judge scores, forward rollouts.

This is the expensive step, so everything it makes is written down, in resumable shards like the
rollouts: one row per branch point with its prompt, every candidate turn (JSON text), the judge's score of
each, which candidates were kept, and, for each kept candidate, every forward rollout's `dialogue_scores`
and judge scores. Step 2 (scoring) turns those into rewards with one reward config
(`reward.score_dialogue`), and step 3 (pairing, `data_gen.pair_sets.dpo_turn.turn_pair_rows`) only selects.
Changing the margin, keep_top_k (up to the one generated) or a reward weight therefore re-pairs in seconds.

Files: <out_dir>/candidates/shards/shard-NNNNN.jsonl and plan.json (what was generated: the generation
settings, never the pairing ones; shard checksums).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# Branch points dropped while generating, as the cards count them.
ONE_DISTINCT_CANDIDATE = "one_distinct_candidate"
JUDGE_UNREADABLE = "judge_unreadable"
# Settings that decide what is generated; everything else in PairsConfig only selects.
GENERATION_SETTINGS = (
    "seed",
    "branch_dialogues_per_scenario",
    "branch_points_per_dialogue",
    "num_candidates",
    "keep_top_k",
    "rollouts_per_candidate",
    "collector",
    "debtor",
    "continuation",
    "judge",
    "judge_rollouts",
)


def candidate_text(turn, public_record: dict | None = None) -> str:
    """What a candidate said as the model would write it: the canonical JSON (debt figures as slots, given the
    record), or the raw text of a malformed turn."""
    from debtgpt.protocol import write_turn

    return turn.raw if turn.format_error is not None and turn.raw is not None else write_turn(turn, public_record)


def candidate_rows(
    points: list,
    cfg,
    collector,
    debtor,
    judge,
    max_turns: int,
    stats: Counter,
    continuation=None,
    keep: int | None = None,
) -> list[dict]:
    """One row per branch point of this batch: candidates, judge scores and kept candidates' forward rollouts.

    `continuation` plays the collector after the candidate in forward rollouts (None: the candidates' own
    collector); `keep` candidates are rolled forward (None: cfg.keep_top_k).
    """

    from data_gen.branching import forward_start, roll_forward, sample_candidates
    from debtgpt.agents.base import DialogueError, RankRequest
    from debtgpt.agents.prompting import collector_messages
    from debtgpt.dialogue import Turn
    from debtgpt.facts import fill_debt_facts
    from debtgpt.metrics import dialogue_scores
    from debtgpt.runner import fresh_turn, replay, same_turn

    lives = []
    for point in points:
        live, mismatches = replay(
            point.trajectory, point.turn_index, max_turns, {"collector": collector, "debtor": debtor}
        )
        stats["replay_mismatches"] += mismatches
        lives.append((point, live))
    candidate_lists = sample_candidates(lives, collector, cfg.num_candidates, cfg.seed)

    rows, work = [], []
    for (point, live), candidates in zip(lives, candidate_lists):
        stats["candidate_errors"] += sum(isinstance(c.turn, DialogueError) for c in candidates)
        seen, distinct, public = set(), [], live.views["collector"].public_record
        for c, candidate in enumerate(candidates):
            if isinstance(candidate.turn, Turn) and candidate_text(candidate.turn, public) not in seen:
                seen.add(candidate_text(candidate.turn, public))
                distinct.append(c)
        row = {
            "key": point.key,
            "rollout_key": point.trajectory.key(),
            "branch_turn": point.turn_index,
            "scenario_id": point.trajectory.scenario.id,
            "archetype": point.trajectory.archetype,
            "prompt": collector_messages(live.views["collector"]),
            "candidates": [
                candidate_text(c.turn, public) if isinstance(c.turn, Turn) else f"(error: {c.turn.message})"
                for c in candidates
            ],
            "judge_scores": [None] * len(candidates),
            "kept": [],
            "forward": {},
            "dropped": None,
        }
        rows.append(row)
        if len(distinct) < 2:
            row["dropped"] = ONE_DISTINCT_CANDIDATE
        else:
            work.append((point, live, candidates, distinct, row))

    rankings = judge.rank(
        [
            RankRequest(p.trajectory.scenario, p.trajectory.turns[: p.turn_index], [cands[c].turn for c in distinct])
            for p, _, cands, distinct, _ in work
        ]
    )
    starts, owners = [], []
    for (point, live, candidates, distinct, row), scores in zip(work, rankings):
        for c, s in zip(distinct, scores):
            row["judge_scores"][c] = s
        readable = [c for c in distinct if row["judge_scores"][c] is not None]
        if len(readable) < 2:
            row["dropped"] = JUDGE_UNREADABLE
            continue
        row["kept"] = sorted(readable, key=lambda c: (-row["judge_scores"][c], c))[: keep or cfg.keep_top_k]
        for c in row["kept"]:
            for m in range(cfg.rollouts_per_candidate):
                starts.append(forward_start(point, live, candidates[c], c, m, cfg.seed, max_turns))
                # the candidate as the debtor hears it: the runner fills its debt slots when it plays it
                heard = fresh_turn(candidates[c].turn)
                heard.dialogue = fill_debt_facts(heard.dialogue, live.views["collector"].public_record)
                owners.append((row, c, heard))

    forward = roll_forward(
        starts, continuation or collector, debtor, seed=cfg.seed, max_turns=max_turns, batch_size=cfg.batch_size
    )
    stats["forward_rollouts"] += len(forward)
    judged = judge.score(forward) if cfg.judge_rollouts else [None] * len(forward)
    for (row, c, turn), trajectory, judge_scores in zip(owners, forward, judged):
        # every forward rollout starts with its branch point's history and its own candidate
        assert same_turn(trajectory.turns[row["branch_turn"]], turn), trajectory.key()
        row["forward"].setdefault(str(c), []).append(
            {"key": trajectory.key(), "scores": dialogue_scores(trajectory), "judge_scores": judge_scores}
        )
    return rows


def make_candidates(
    points: list, cfg, rollouts: dict, out_dir: Path, max_turns: int, progress: bool
) -> tuple[list[dict], Counter]:
    """Every branch point's row, generating only the shards that are not complete yet; (rows, stats)."""
    from omegaconf import OmegaConf
    from tqdm.auto import tqdm

    from data_gen.shards import (
        check_plan,
        digest,
        read_plan,
        record_shard,
        remove_temporaries,
        shard_complete,
        shard_path,
    )
    from debtgpt.agents.factory import AgentFactory, check_agents
    from debtgpt.io import read_jsonl, write_jsonl

    config = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True) if not isinstance(cfg, dict) else cfg
    collector_name, debtor_name = cfg.collector or rollouts["collector"], cfg.debtor or rollouts["debtor"]
    check_agents([collector_name, *([cfg.continuation] if cfg.continuation else [])], [debtor_name], [cfg.judge])
    batches = [points[i : i + cfg.branch_batch_size] for i in range(0, len(points), cfg.branch_batch_size)]
    expected = [[p.key for p in batch] for batch in batches]
    # Candidates rolled forward for a larger keep_top_k serve a smaller one: pairing takes the judge's top k of them.
    keep = max(cfg.keep_top_k, read_plan(out_dir).get("keep_top_k", 0))
    check_plan(
        out_dir,
        {
            **{name: config[name] for name in GENERATION_SETTINGS},
            "keep_top_k": keep,
            "collector": collector_name,
            "debtor": debtor_name,
            "max_turns": max_turns,
            "branch_batch_size": cfg.branch_batch_size,
            "histories_digest": digest([[t.to_dict() for t in p.trajectory.turns[: p.turn_index]] for p in points]),
        },
        overwrite=cfg.overwrite,
    )
    remove_temporaries(out_dir)
    todo = [i for i in range(len(batches)) if not shard_complete(out_dir, i, expected[i])]
    stats = Counter()
    if todo:
        agents = AgentFactory()
        collector, debtor, judge = (
            agents.collector(collector_name),
            agents.debtor(debtor_name),
            agents.judge(cfg.judge),
        )
        if judge is None:
            raise ValueError("judge=none cannot rank candidates; use heuristic or a file in configs/agents/judge/")
        continuation = agents.collector(cfg.continuation) if cfg.continuation else None
        bar = tqdm(
            total=len(points),
            initial=len(points) - sum(len(batches[i]) for i in todo),
            disable=not progress,
            unit="branch",
            desc="turn-level candidates",
        )
        try:
            for i in todo:
                rows = candidate_rows(batches[i], cfg, collector, debtor, judge, max_turns, stats, continuation, keep)
                write_jsonl(shard_path(out_dir, i), rows)
                record_shard(out_dir, i)
                bar.update(len(batches[i]))
        finally:
            bar.close()
            agents.close()
    rows = [row for i in range(len(batches)) for row in read_jsonl(shard_path(out_dir, i))]
    print(
        f"pairs: {len(points)} branch points, {len(todo)} of {len(batches)} candidate shards generated, "
        f"{len(batches) - len(todo)} reused -> {out_dir}"
    )
    return rows, stats
