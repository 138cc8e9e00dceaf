"""Rejection sampling: the SFT set and DPO pairs, at dialogue level (MADeN) and turn level (DebtGPT).

    python -m data_gen.pairs rollouts_dir=data/rollouts/expert out_dir=data/pairs
    python -m data_gen.pairs sets=[dpo_turn] num_candidates=4 keep_top_k=2 rollouts_per_candidate=2

Reads the rollouts of `make rollouts` and writes, under <out_dir>/{sft,dpo_dialogue,dpo_turn}/, a Hugging
Face dataset (`datasets.load_from_disk`), the same rows as <set>.parquet, and a card (README.md, card.json).
Column contract (TRL): sft has `messages`; the DPO sets have conversational `prompt`, `chosen`, `rejected`.

- sft: the collector's side of the best `sft_top_k` successful trajectories per scenario with reward at least
  `sft_min_reward`: system = information card and instructions, assistant = the collector's JSON turns, user =
  what it heard (agents.llm_collector.collector_messages).
- dpo_dialogue: best vs worst trajectory of a scenario; prompt = system + the call opening (nothing heard yet).
  The completions are whole dialogues, debtor turns included, and TRL's DPO scores every completion token:
  the debtor's words weigh in the loss too. That is why the turn level exists.
- dpo_turn: at sampled collector turns, `num_candidates` candidate turns; the judge keeps the best
  `keep_top_k` (listwise, forward and reverse summed); each kept candidate is rolled forward
  `rollouts_per_candidate` times against the debtor and scored with the reward; chosen = best mean reward,
  rejected = worst; prompt = the shared history; chosen and rejected are one assistant turn each.
Ties and pairs under `margin` are dropped and counted by reason; every candidate's scores stay in the rows.
"""
from __future__ import annotations

import logging
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

import hydra
from omegaconf import OmegaConf

from debtgpt.cli import stage_errors
from debtgpt.config import PairsConfig, register_configs, reject_unknown_keys, require_at_least

log = logging.getLogger(__name__)
register_configs()

SETS = ("sft", "dpo_dialogue", "dpo_turn")
# Drop reasons, as the cards count them.
SINGLE_TRAJECTORY = "single_trajectory"
TIE = "tie"
UNDER_MARGIN = "under_margin"
NO_BRANCH_POINT = "no_branch_point"
ONE_DISTINCT_CANDIDATE = "one_distinct_candidate"
JUDGE_UNREADABLE = "judge_unreadable"
NO_SUCCESS_ABOVE_THRESHOLD = "no_success_above_threshold"


def features(name: str):
    """The column contract of each set, written down once."""
    from datasets import Features, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    common = {"scenario_id": Value("string"), "archetype": Value("string")}
    if name == "sft":
        return Features({"messages": List(message), **common, "key": Value("string"), "reward": Value("float64"), "rank": Value("int32")})
    pair = {"prompt": List(message), "chosen": List(message), "rejected": List(message), **common,
            "chosen_reward": Value("float64"), "rejected_reward": Value("float64")}
    if name == "dpo_dialogue":
        return Features({**pair, "chosen_key": Value("string"), "rejected_key": Value("string"),
                         "keys": List(Value("string")), "rewards": List(Value("float64"))})
    return Features({
        **pair, "key": Value("string"), "branch_turn": Value("int32"),
        "candidates": List(Value("string")),  # every candidate turn (JSON text), in sampling order
        "candidate_judge_scores": List(Value("float64")),  # S_k = s_fwd + s_rev; null where unreadable
        "candidate_kept": List(Value("bool")),  # kept by the judge and rolled forward
        "candidate_rewards": List(List(Value("float64"))),  # rewards of each kept candidate's forward rollouts
        "candidate_mean_rewards": List(Value("float64")),  # null for candidates not rolled forward
        "chosen_index": Value("int32"), "rejected_index": Value("int32"),
    })


def conversation(trajectory, max_turns: int) -> list[dict]:
    """The collector's whole call as chat messages, rebuilt from its view (what it knew, nothing private)."""
    from debtgpt.agents.llm_collector import collector_messages

    return collector_messages(collector_view(trajectory, len(trajectory.turns), max_turns))


def collector_view(trajectory, upto: int, max_turns: int):
    """The collector's view after the first `upto` turns of a recorded dialogue (its history only)."""
    from debtgpt.runner import replay

    return replay(trajectory, upto, max_turns)[0].views["collector"]


def split_shared_prompt(prompt: list[dict], chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], list[dict]]:
    """Completions after a prompt both conversations start with exactly (asserted)."""
    n = len(prompt)
    assert chosen[:n] == prompt and rejected[:n] == prompt, "chosen and rejected must share their prompt exactly"
    return chosen[n:], rejected[n:]


def by_scenario(trajectories) -> dict[str, list]:
    groups: dict[str, list] = defaultdict(list)
    for t in trajectories:
        groups[t.scenario.id].append(t)
    return groups


def ranked(group: list) -> list:
    """Best first; equal rewards keep sample order, so the choice is reproducible."""
    return sorted(group, key=lambda t: (-t.reward, t.sample))


def sft_rows(groups: dict, cfg: PairsConfig, max_turns: int) -> tuple[list[dict], Counter]:
    rows, dropped = [], Counter()
    for scenario_id, group in groups.items():
        best = [t for t in ranked(group) if t.success and t.reward >= cfg.sft_min_reward][: cfg.sft_top_k]
        if not best:
            dropped[(group[0].archetype, NO_SUCCESS_ABOVE_THRESHOLD)] += 1
        for rank, t in enumerate(best):
            messages = conversation(t, max_turns)
            while messages[-1]["role"] != "assistant":  # nothing to learn from what the debtor said last
                messages.pop()
            rows.append({"messages": messages, "scenario_id": scenario_id, "archetype": t.archetype, "key": t.key(),
                         "reward": t.reward, "rank": rank})
    return rows, dropped


def pair_gap_reason(best: float, worst: float, margin: float) -> str | None:
    if best == worst:
        return TIE
    if best - worst < margin:
        return UNDER_MARGIN
    return None


def dialogue_pair_rows(groups: dict, cfg: PairsConfig, max_turns: int) -> tuple[list[dict], Counter]:
    rows, dropped = [], Counter()
    for scenario_id, group in groups.items():
        order = ranked(group)
        if len(order) < 2:
            dropped[(group[0].archetype, SINGLE_TRAJECTORY)] += 1
            continue
        best, worst = order[0], order[-1]
        reason = pair_gap_reason(best.reward, worst.reward, cfg.margin)
        if reason:
            dropped[(best.archetype, reason)] += 1
            continue
        chosen_full, rejected_full = conversation(best, max_turns), conversation(worst, max_turns)
        prompt = chosen_full[:2]  # system + the call opening: nothing heard yet
        chosen, rejected = split_shared_prompt(prompt, chosen_full, rejected_full)
        rows.append({
            "prompt": prompt, "chosen": chosen, "rejected": rejected, "scenario_id": scenario_id,
            "archetype": best.archetype, "chosen_reward": best.reward, "rejected_reward": worst.reward,
            "chosen_key": best.key(), "rejected_key": worst.key(),
            "keys": [t.key() for t in group], "rewards": [t.reward for t in group],
        })
    return rows, dropped


def branch_points(groups: dict, cfg: PairsConfig) -> tuple[list, Counter]:
    """Collector turns to branch at, drawn per dialogue from (seed, key): the greeting (turn 0) is never one."""
    from data_gen.branching import BranchPoint

    points, dropped = [], Counter()
    for group in groups.values():
        for t in sorted(group, key=lambda t: t.sample)[: cfg.branch_dialogues_per_scenario]:
            turns = [i for i in range(2, len(t.turns), 2) if t.turns[i].role == "collector"]
            if not turns:
                dropped[(t.archetype, NO_BRANCH_POINT)] += 1
                continue
            chosen = random.Random(f"{cfg.seed}/{t.key()}/branch").sample(turns, min(cfg.branch_points_per_dialogue, len(turns)))
            points += [BranchPoint(t, i) for i in sorted(chosen)]
    return points, dropped


def candidate_text(turn) -> str:
    """What a candidate said as the model would write it: the canonical JSON, or the raw text of a malformed turn."""
    from debtgpt.protocol import write_turn

    return turn.raw if turn.format_error is not None and turn.raw is not None else write_turn(turn)


def turn_pair_rows(points: list, cfg: PairsConfig, collector, debtor, judge, max_turns: int, stats: Counter,
                   continuation=None) -> tuple[list[dict], Counter]:
    """Candidates, judge, forward rollouts and pairs for one batch of branch points (generated together).

    `continuation` plays the collector after the candidate in forward rollouts (None: the candidates' own collector).
    """
    from data_gen.branching import forward_start, roll_forward, sample_candidates
    from debtgpt.agents.base import DialogueError
    from debtgpt.agents.judge import RankRequest
    from debtgpt.agents.llm_collector import collector_messages
    from debtgpt.dialogue import Turn
    from debtgpt.reward import score_all
    from debtgpt.runner import replay, same_turn

    rows, dropped = [], Counter()
    lives = []
    for point in points:
        live, mismatches = replay(point.trajectory, point.turn_index, max_turns, {"collector": collector, "debtor": debtor})
        stats["replay_mismatches"] += mismatches
        lives.append((point, live))
    candidate_lists = sample_candidates(lives, collector, cfg.num_candidates, cfg.seed)

    work = []  # (point, live, candidates, distinct indexes)
    for (point, live), candidates in zip(lives, candidate_lists):
        stats["candidate_errors"] += sum(isinstance(c.turn, DialogueError) for c in candidates)
        seen, distinct = set(), []
        for c, candidate in enumerate(candidates):
            if isinstance(candidate.turn, Turn) and candidate_text(candidate.turn) not in seen:
                seen.add(candidate_text(candidate.turn))
                distinct.append(c)
        if len(distinct) < 2:
            dropped[(point.trajectory.archetype, ONE_DISTINCT_CANDIDATE)] += 1
            continue
        work.append((point, live, candidates, distinct))

    requests = [RankRequest(p.trajectory.scenario, p.trajectory.turns[: p.turn_index], [cands[c].turn for c in distinct])
                for p, _, cands, distinct in work]
    rankings = judge.rank(requests)
    starts, owners, kept_by_point = [], [], []
    for (point, live, candidates, distinct), scores in zip(work, rankings):
        judge_scores: list[float | None] = [None] * len(candidates)
        for c, s in zip(distinct, scores):
            judge_scores[c] = s
        readable = [c for c in distinct if judge_scores[c] is not None]
        if len(readable) < 2:
            dropped[(point.trajectory.archetype, JUDGE_UNREADABLE)] += 1
            kept_by_point.append(None)
            continue
        kept = sorted(readable, key=lambda c: (-judge_scores[c], c))[: cfg.keep_top_k]
        kept_by_point.append((judge_scores, kept))
        for c in kept:
            for m in range(cfg.rollouts_per_candidate):
                starts.append(forward_start(point, live, candidates[c], c, m, cfg.seed, max_turns))
                owners.append((point.key, c))

    forward = roll_forward(starts, continuation or collector, debtor, seed=cfg.seed, max_turns=max_turns,
                           batch_size=cfg.batch_size)
    stats["forward_rollouts"] += len(forward)
    if cfg.judge_rollouts:
        for trajectory, scores in zip(forward, judge.score(forward)):
            trajectory.judge_scores = scores
    score_all(forward, cfg.reward)
    rollouts_of: dict[tuple[str, int], list] = defaultdict(list)
    for owner, trajectory in zip(owners, forward):
        rollouts_of[owner].append(trajectory)

    for (point, live, candidates, distinct), decision in zip(work, kept_by_point):
        if decision is None:
            continue
        judge_scores, kept = decision
        rewards = {c: [t.reward for t in rollouts_of[(point.key, c)]] for c in kept}
        mean = {c: sum(r) / len(r) for c, r in rewards.items()}
        order = sorted(kept, key=lambda c: (-mean[c], c))
        best, worst = order[0], order[-1]
        reason = pair_gap_reason(mean[best], mean[worst], cfg.margin)
        if reason:
            dropped[(point.trajectory.archetype, reason)] += 1
            continue
        prompt = collector_messages(live.views["collector"])
        for c in (best, worst):  # every forward rollout starts with the branch point's history and its candidate
            played = rollouts_of[(point.key, c)][0].turns
            assert all(same_turn(a, b) for a, b in zip(played, point.trajectory.turns[: point.turn_index])), point.key
            assert same_turn(played[point.turn_index], candidates[c].turn), point.key
        rows.append({
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": candidate_text(candidates[best].turn)}],
            "rejected": [{"role": "assistant", "content": candidate_text(candidates[worst].turn)}],
            "scenario_id": point.trajectory.scenario.id, "archetype": point.trajectory.archetype,
            "chosen_reward": mean[best], "rejected_reward": mean[worst],
            "key": point.key, "branch_turn": point.turn_index,
            "candidates": [candidate_text(c.turn) if isinstance(c.turn, Turn) else f"(error: {c.turn.message})" for c in candidates],
            "candidate_judge_scores": judge_scores,
            "candidate_kept": [c in kept for c in range(len(candidates))],
            "candidate_rewards": [rewards.get(c, []) for c in range(len(candidates))],
            "candidate_mean_rewards": [mean.get(c) for c in range(len(candidates))],
            "chosen_index": best, "rejected_index": worst,
        })
    return rows, dropped


def set_card(name: str, rows: list[dict], dropped: Counter, groups: dict, cfg: dict, extra: dict) -> dict:
    """Counts overall and per archetype: scenarios, trajectories, rows, reward spread, drops by reason."""
    from debtgpt.constants import ARCHETYPES
    from debtgpt.io import package_versions
    from debtgpt.reward import reward_spread

    reward_columns = ("reward",) if name == "sft" else ("chosen_reward", "rejected_reward")

    def summary(archetype: str | None) -> dict:
        picked = [r for r in rows if archetype in (None, r["archetype"])]
        scenarios = [g for g in groups.values() if archetype in (None, g[0].archetype)]
        drops = Counter()
        for (a, reason), n in dropped.items():
            if archetype in (None, a):
                drops[reason] += n
        return {
            "scenarios": len(scenarios),
            "trajectories": sum(len(g) for g in scenarios),
            "rows": len(picked),
            "scenarios_with_rows": len({r["scenario_id"] for r in picked}),
            "rollout_reward": reward_spread(t.reward for g in scenarios for t in g),
            **{column: reward_spread(r[column] for r in picked) for column in reward_columns},
            "dropped": dict(sorted(drops.items())),
        }

    return {
        "set": name,
        "command": " ".join(["python -m data_gen.pairs", *sys.argv[1:]]),
        "seed": cfg["seed"],
        "config": cfg,
        "versions": package_versions(),
        "overall": summary(None),
        "by_archetype": {a: summary(a) for a in ARCHETYPES},
        **extra,
    }


def card_markdown(card: dict) -> str:
    """README.md of a set: how it was made and its counts per archetype."""
    lines = [
        f"# DebtGPT {card['set']} set", "",
        f"Made by `{card['command']}` (seed {card['seed']}) from `{card['config']['rollouts_dir']}`.", "",
        "| archetype | scenarios | trajectories | rows | reward min / mean / max | dropped |",
        "|---|---|---|---|---|---|",
    ]
    column = "reward" if card["set"] == "sft" else "chosen_reward"
    for archetype, s in [*card["by_archetype"].items(), ("all", card["overall"])]:
        spread = s[column]
        shown = "n/a" if spread["n"] == 0 else f"{spread['min']} / {spread['mean']} / {spread['max']}"
        drops = ", ".join(f"{k}: {v}" for k, v in s["dropped"].items()) or "none"
        lines.append(f"| {archetype} | {s['scenarios']} | {s['trajectories']} | {s['rows']} | {shown} | {drops} |")
    if card["set"] != "sft":
        lines += ["", "Rewards above are of the chosen side; card.json has the rejected side and every quantile."]
    if card["set"] == "dpo_dialogue":
        lines += ["", "Completions are whole dialogues: TRL's DPO loss covers the debtor's turns as well."]
    return "\n".join(lines) + "\n"


def write_set(out_dir: Path, name: str, rows: list[dict], card: dict) -> None:
    """save_to_disk + Parquet + card, built in a temporary folder and renamed into place."""
    import shutil
    import tempfile

    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    from debtgpt.io import write_json

    disable_progress_bar()  # one printed line per set is enough

    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out_dir))
    dataset = Dataset.from_list(rows, features=features(name))
    dataset.save_to_disk(str(staging))
    dataset.to_parquet(str(staging / f"{name}.parquet"))
    write_json(staging / "card.json", card)
    (staging / "README.md").write_text(card_markdown(card), encoding="utf-8")
    target = out_dir / name
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def make_pairs(cfg: PairsConfig) -> dict:
    """Build the configured sets; returns {set: card}."""
    from tqdm.auto import tqdm

    from data_gen.shards import load_rollouts
    from debtgpt.reward import score_all
    from debtgpt.agents.factory import AgentFactory

    unknown = [s for s in cfg.sets if s not in SETS]
    if unknown or not cfg.sets:
        raise ValueError(f"sets={list(cfg.sets)} is not allowed; allowed values: any of {', '.join(SETS)}")
    if cfg.sft_top_k < 1 or cfg.margin < 0 or not 2 <= cfg.keep_top_k <= cfg.num_candidates:
        raise ValueError(f"need sft_top_k >= 1 (got {cfg.sft_top_k}), margin >= 0 (got {cfg.margin}) and "
                         f"2 <= keep_top_k <= num_candidates (got {cfg.keep_top_k}, {cfg.num_candidates})")
    config = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True) if not isinstance(cfg, dict) else cfg
    trajectories, rollouts = load_rollouts(cfg.rollouts_dir)
    # One reward for every set: the rollouts' stored rewards are recomputed with this stage's weights (the
    # reward is a function of the finished dialogue), so changing a weight never means generating again.
    score_all(trajectories, cfg.reward)
    max_turns = rollouts["max_turns"]
    groups = by_scenario(trajectories)
    out = Path(cfg.out_dir)
    print(f"pairs: {len(trajectories)} trajectories of {len(groups)} scenarios from {cfg.rollouts_dir} -> {out}")
    cards = {}
    source = {"rollouts": {"dir": cfg.rollouts_dir, "collector": rollouts["collector"], "seed": rollouts["seed"]}}

    if "sft" in cfg.sets:
        rows, dropped = sft_rows(groups, cfg, max_turns)
        cards["sft"] = set_card("sft", rows, dropped, groups, config, source)
        write_set(out, "sft", rows, cards["sft"])
        print(f"pairs: sft {len(rows)} conversations -> {out / 'sft'}")
    if "dpo_dialogue" in cfg.sets:
        rows, dropped = dialogue_pair_rows(groups, cfg, max_turns)
        cards["dpo_dialogue"] = set_card("dpo_dialogue", rows, dropped, groups, config, source)
        write_set(out, "dpo_dialogue", rows, cards["dpo_dialogue"])
        print(f"pairs: dpo_dialogue {len(rows)} pairs, dropped {dict(Counter(r for _, r in dropped.elements()))} -> {out / 'dpo_dialogue'}")
    if "dpo_turn" in cfg.sets:
        require_at_least(2, num_candidates=cfg.num_candidates)
        require_at_least(1, rollouts_per_candidate=cfg.rollouts_per_candidate)
        agents = AgentFactory()
        collector = agents.collector(cfg.collector or rollouts["collector"])
        debtor = agents.debtor(cfg.debtor or rollouts["debtor"])
        continuation = agents.collector(cfg.continuation) if cfg.continuation else None
        judge = agents.judge(cfg.judge)
        if judge is None:
            raise ValueError("judge=none cannot rank candidates; use heuristic or a file in configs/agents/judge/")
        points, dropped = branch_points(groups, cfg)
        rows, stats = [], Counter()
        bar = tqdm(total=len(points), disable=not cfg.progress, unit="branch", desc="turn-level pairs")
        try:
            for start in range(0, len(points), cfg.branch_batch_size):
                batch = points[start : start + cfg.branch_batch_size]
                batch_rows, batch_dropped = turn_pair_rows(batch, cfg, collector, debtor, judge, max_turns, stats, continuation)
                rows += batch_rows
                dropped += batch_dropped
                bar.update(len(batch))
        finally:
            bar.close()
            agents.close()
        if stats["replay_mismatches"]:
            log.warning("%d replayed turns came out differently from the rollouts (agents changed since?)", stats["replay_mismatches"])
        extra = {**source, "branch_points": len(points), "judge": cfg.judge, **dict(stats)}
        cards["dpo_turn"] = set_card("dpo_turn", rows, dropped, groups, config, extra)
        write_set(out, "dpo_turn", rows, cards["dpo_turn"])
        print(f"pairs: dpo_turn {len(rows)} pairs from {len(points)} branch points ({stats['forward_rollouts']} forward "
              f"rollouts), dropped {dict(Counter(r for _, r in dropped.elements()))} -> {out / 'dpo_turn'}")
    return cards


@hydra.main(config_path="../configs", config_name="pairs", version_base="1.3")
def main(cfg: PairsConfig) -> None:
    with stage_errors():
        reject_unknown_keys(cfg, PairsConfig)
        make_pairs(cfg)


if __name__ == "__main__":
    main()
