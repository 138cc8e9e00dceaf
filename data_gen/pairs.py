"""Rejection sampling: the SFT set and DPO pairs, at dialogue level (MADeN) and turn level (DebtGPT).

    python -m data_gen.pairs rollouts_dir=data/rollouts/expert out_dir=data/pairs
    python -m data_gen.pairs sets=[dpo_turn] num_candidates=4 keep_top_k=2 rollouts_per_candidate=2

Reads the rollouts of `make rollouts` and writes, under <out_dir>/{sft,dpo_dialogue,dpo_turn}/, a Hugging
Face dataset (`datasets.load_from_disk`), the same rows as <set>.parquet, and a card (README.md, card.json).
Column contract (TRL): sft has `messages`; the DPO sets have conversational `prompt`, `chosen`, `rejected`.

- sft: the collector's side of the best `sft_top_k` successful trajectories per scenario with reward at least
  `sft_min_reward`: system = information card and instructions, assistant = the collector's JSON turns, user =
  what it heard (agents.prompting.collector_messages).
- dpo_dialogue: best vs worst trajectory of a scenario; prompt = system + the call opening (nothing heard yet).
  The completions are whole dialogues, debtor turns included, and TRL's DPO scores every completion token:
  the debtor's words weigh in the loss too. That is why the turn level exists.
- dpo_turn: in three steps. Candidates (data_gen/candidates.py, the expensive one, in resumable shards under
  <out_dir>/candidates/): at sampled collector turns, `num_candidates` candidate turns; the judge keeps the
  best `keep_top_k` (listwise, forward and reverse summed); each kept candidate is rolled forward
  `rollouts_per_candidate` times on common random numbers. Scoring: each forward rollout's reward from its
  stored scores and `reward`. Pairing (`turn_pair_rows`, pure selection): chosen = best mean reward,
  rejected = worst; prompt = the shared history; chosen and rejected are one assistant turn each.
- dpo_accept: the teacher's decision against the collector's own, one turn at a time (docs/experiments/). Each
  kind is drawn at its share of `accept_negatives`: positives, where the debtor's standing counter-offer is one
  the expert accepts and the collector did not (chosen = the expert's acceptance, rejected = the collector's
  turn); negatives at the other clean turns (chosen = that turn or the teacher's, rejected = an acceptance);
  corrections, where the collector's turn was malformed or out of the envelope (or its evidence note untrue):
  chosen = the teacher's turn at that state, rejected = the collector's. The recipe (configs/experiment/
  sft_pairs.yaml) is corrections alone. Train with `train.dpo level=accept` and `decision_tokens`, which keeps
  only that many tokens from where the two sides part in the loss.
Ties and pairs under `margin` are dropped and counted by reason; every candidate's scores stay in the rows.
The sets of one run are written as one unit (`write_sets`).
"""

from __future__ import annotations

import logging
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

import hydra
from omegaconf import OmegaConf

from pipeline.cli import run_stage, stage_errors
from pipeline.config import PairsConfig, register_configs, require_at_least

log = logging.getLogger(__name__)
register_configs()

SETS = ("sft", "dpo_dialogue", "dpo_turn", "dpo_accept")
# Drop reasons, as the cards count them.
SINGLE_TRAJECTORY = "single_trajectory"
TIE = "tie"
UNDER_MARGIN = "under_margin"
NO_BRANCH_POINT = "no_branch_point"
# (a branch point's own drop reasons are counted where they arise: data_gen/candidates.py)
NO_SUCCESS_ABOVE_THRESHOLD = "no_success_above_threshold"
# dpo_accept's kinds of pair: where the teacher accepts; where it does not, with no counter-offer standing or with
# one it refuses; and the teacher's turn over the collector's mistake (a malformed or out-of-envelope turn, an
# untrue evidence note)
ACCEPT_KINDS = ("positive", "negative_no_counter", "negative_refused", "correction", "untrue_note")
# the share of each kind drawn (config.AcceptNegatives field)
ACCEPT_SHARES = {
    "positive": "positives",
    "negative_no_counter": "no_counter",
    "negative_refused": "refused",
    "correction": "corrections",
    "untrue_note": "untrue_notes",
}
CORRECTIONS = ("correction", "untrue_note")
# the chosen side of a negative pair (config.AcceptNegatives.refusal)
ACCEPT_REFUSALS = ("own", "teacher")
# The reward columns a set's card summarises; the first is the one its markdown table shows.
REWARD_COLUMNS = {"sft": ("reward",), "dpo_accept": ("dialogue_reward",)}
PAIR_REWARD_COLUMNS = ("chosen_reward", "rejected_reward")


def features(name: str):
    """The column contract of each set, written down once."""
    from datasets import Features, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    common = {"scenario_id": Value("string"), "archetype": Value("string")}
    if name == "sft":
        return Features(
            {
                "messages": List(message),
                **common,
                "key": Value("string"),
                "reward": Value("float64"),
                "rank": Value("int32"),
            }
        )
    sides = {"prompt": List(message), "chosen": List(message), "rejected": List(message), **common}
    if name == "dpo_accept":
        return Features(
            {
                **sides,
                "key": Value("string"),
                "branch_turn": Value("int32"),
                "kind": Value("string"),
                "dialogue_reward": Value("float64"),
            }
        )  # the reward of the rollout the turn is from
    pair = {**sides, "chosen_reward": Value("float64"), "rejected_reward": Value("float64")}
    if name == "dpo_dialogue":
        return Features(
            {
                **pair,
                "chosen_key": Value("string"),
                "rejected_key": Value("string"),
                "keys": List(Value("string")),
                "rewards": List(Value("float64")),
            }
        )
    return Features(
        {
            **pair,
            "key": Value("string"),
            "branch_turn": Value("int32"),
            "candidates": List(Value("string")),  # every candidate turn (JSON text), in sampling order
            "candidate_judge_scores": List(Value("float64")),  # S_k = s_fwd + s_rev; null where unreadable
            "candidate_kept": List(Value("bool")),  # kept by the judge and rolled forward
            "candidate_rewards": List(List(Value("float64"))),  # rewards of each kept candidate's forward rollouts
            "candidate_mean_rewards": List(Value("float64")),  # null for candidates not rolled forward
            "chosen_index": Value("int32"),
            "rejected_index": Value("int32"),
        }
    )


def conversation(trajectory, max_turns: int) -> list[dict]:
    """The collector's whole call as chat messages, rebuilt from its view (what it knew, nothing private)."""
    from debtgpt.agents.prompting import collector_messages

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
            rows.append(
                {
                    "messages": messages,
                    "scenario_id": scenario_id,
                    "archetype": t.archetype,
                    "key": t.key(),
                    "reward": t.reward,
                    "rank": rank,
                }
            )
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
        rows.append(
            {
                "prompt": prompt,
                "chosen": chosen,
                "rejected": rejected,
                "scenario_id": scenario_id,
                "archetype": best.archetype,
                "chosen_reward": best.reward,
                "rejected_reward": worst.reward,
                "chosen_key": best.key(),
                "rejected_key": worst.key(),
                "keys": [t.key() for t in group],
                "rewards": [t.reward for t in group],
            }
        )
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
            chosen = random.Random(f"{cfg.seed}/{t.key()}/branch").sample(
                turns, min(cfg.branch_points_per_dialogue, len(turns))
            )
            points += [BranchPoint(t, i) for i in sorted(chosen)]
    return points, dropped


def turn_pair_rows(candidates: list[dict], cfg: PairsConfig) -> tuple[list[dict], Counter]:
    """Steps 2 and 3 of turn-level rejection sampling: score stored forward rollouts, pick best vs worst.

    Pure selection over `data_gen.candidates` rows: the judge's top `keep_top_k` of the candidates rolled
    forward, each candidate's mean reward under `cfg.reward`, chosen = best, rejected = worst.
    """
    from debtgpt.reward import score_dialogue

    rows, dropped = [], Counter()
    for point in candidates:
        if point["dropped"]:
            dropped[(point["archetype"], point["dropped"])] += 1
            continue
        kept = point["kept"][: cfg.keep_top_k]
        rewards = {
            c: [score_dialogue(f["scores"], f["judge_scores"], cfg.reward)[0] for f in point["forward"][str(c)]]
            for c in kept
        }
        mean = {c: sum(r) / len(r) for c, r in rewards.items()}
        order = sorted(kept, key=lambda c: (-mean[c], c))
        best, worst = order[0], order[-1]
        reason = pair_gap_reason(mean[best], mean[worst], cfg.margin)
        if reason:
            dropped[(point["archetype"], reason)] += 1
            continue
        n = len(point["candidates"])
        rows.append(
            {
                "prompt": point["prompt"],
                "chosen": [{"role": "assistant", "content": point["candidates"][best]}],
                "rejected": [{"role": "assistant", "content": point["candidates"][worst]}],
                "scenario_id": point["scenario_id"],
                "archetype": point["archetype"],
                "chosen_reward": mean[best],
                "rejected_reward": mean[worst],
                "key": point["key"],
                "branch_turn": point["branch_turn"],
                "candidates": point["candidates"],
                "candidate_judge_scores": point["judge_scores"],
                "candidate_kept": [c in kept for c in range(n)],
                "candidate_rewards": [rewards.get(c, []) for c in range(n)],
                "candidate_mean_rewards": [mean.get(c) for c in range(n)],
                "chosen_index": best,
                "rejected_index": worst,
            }
        )
    return rows, dropped


def accept_pair_rows(groups: dict, cfg: PairsConfig, max_turns: int) -> list[dict]:
    """The dpo_accept set: the teacher's decision against the collector's own turn (module docstring)."""
    from data_gen.candidates import candidate_text
    from debtgpt.agents.prompting import collector_messages
    from debtgpt.agents.scripted import acceptable_counter, expert_acceptance, expert_turn, unfaithful_acceptance
    from debtgpt.metrics import turn_compliance
    from debtgpt.protocol import write_turn

    shares = {kind: cfg.accept_negatives[field] for kind, field in ACCEPT_SHARES.items()}
    for kind, field in ACCEPT_SHARES.items():
        if not 0 <= shares[kind] <= 1:
            raise ValueError(f"accept_negatives.{field}={shares[kind]} must be in [0, 1]")
    refusal = cfg.accept_negatives["refusal"]
    if refusal not in ACCEPT_REFUSALS:
        raise ValueError(
            f"accept_negatives.refusal={refusal!r} is not allowed; allowed values: {', '.join(ACCEPT_REFUSALS)}"
        )
    rows = []
    for group in groups.values():
        for t in sorted(group, key=lambda t: t.sample):
            checked = turn_compliance(t)
            for i, turn in enumerate(t.turns):
                if turn.role != "collector" or i == 0:
                    continue
                view = collector_view(t, i, max_turns)
                kind = accept_kind(
                    turn, checked[i], view, acceptable_counter(view) is not None, shares["untrue_note"] > 0
                )
                # every positive is kept at share 1, so the draw only ever thins the other kinds there
                if kind is None or (
                    shares[kind] < 1 and random.Random(f"{cfg.seed}/{t.key()}/{i}/accept").random() >= shares[kind]
                ):
                    continue
                public = view.public_record
                own = [{"role": "assistant", "content": candidate_text(turn, public)}]
                if kind == "positive":
                    chosen, rejected = [{"role": "assistant", "content": write_turn(expert_acceptance(view))}], own
                elif kind in CORRECTIONS:
                    chosen, rejected = [{"role": "assistant", "content": write_turn(expert_turn(view), public)}], own
                elif refusal == "own":
                    chosen, rejected = own, [{"role": "assistant", "content": write_turn(expert_acceptance(view))}]
                else:
                    chosen = [{"role": "assistant", "content": write_turn(expert_turn(view), public)}]
                    rejected = [{"role": "assistant", "content": write_turn(unfaithful_acceptance(view))}]
                rows.append(
                    {
                        "prompt": collector_messages(view),
                        "chosen": chosen,
                        "rejected": rejected,
                        "scenario_id": t.scenario.id,
                        "archetype": t.archetype,
                        "key": t.key(),
                        "branch_turn": i,
                        "kind": kind,
                        "dialogue_reward": t.reward,
                    }
                )
    return rows


def accept_kind(turn, checked: dict, view, teacher_accepts: bool, notes_checked: bool) -> str | None:
    """Which kind of acceptance pair the collector's turn at `view` makes (ACCEPT_KINDS), None for none. Untrue
    notes are a kind of their own only when `notes_checked`; otherwise such turns stay negatives, as they were."""
    if teacher_accepts and turn.action != "accept":
        return "positive"
    if turn.format_error is not None or turn.violations:
        return "correction"
    if notes_checked and checked["note_faithful"] is False:
        return "untrue_note"
    if turn.action == "accept":
        return None
    # a negative pair raises the collector's own clean turn (or the teacher's) at a state with no acceptance
    return "negative_no_counter" if view.standing_proposal("debtor") is None else "negative_refused"


def set_card(name: str, rows: list[dict], dropped: Counter, groups: dict, cfg: dict, extra: dict) -> dict:
    """Counts overall and per archetype: scenarios, trajectories, rows, reward spread, drops by reason."""
    from debtgpt.constants import ARCHETYPES
    from debtgpt.io import package_versions
    from debtgpt.reward import reward_spread

    reward_columns = REWARD_COLUMNS.get(name, PAIR_REWARD_COLUMNS)

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
        f"# DebtGPT {card['set']} set",
        "",
        f"Made by `{card['command']}` (seed {card['seed']}) from `{card['config']['rollouts_dir']}`.",
        "",
        "| archetype | scenarios | trajectories | rows | reward min / mean / max | dropped |",
        "|---|---|---|---|---|---|",
    ]
    column = REWARD_COLUMNS.get(card["set"], PAIR_REWARD_COLUMNS)[0]
    for archetype, s in [*card["by_archetype"].items(), ("all", card["overall"])]:
        spread = s[column]
        shown = "n/a" if spread["n"] == 0 else f"{spread['min']} / {spread['mean']} / {spread['max']}"
        drops = ", ".join(f"{k}: {v}" for k, v in s["dropped"].items()) or "none"
        lines.append(f"| {archetype} | {s['scenarios']} | {s['trajectories']} | {s['rows']} | {shown} | {drops} |")
    if card["set"] == "dpo_accept":
        kinds = ", ".join(f"{k}: {v}" for k, v in card["kinds"].items())
        lines += ["", f"Rewards above are of the rollouts the pairs are from. Pairs by kind: {kinds}."]
    elif card["set"] != "sft":
        lines += ["", "Rewards above are of the chosen side; card.json has the rejected side and every quantile."]
    if card["set"] == "dpo_dialogue":
        lines += ["", "Completions are whole dialogues: TRL's DPO loss covers the debtor's turns as well."]
    return "\n".join(lines) + "\n"


def write_sets(out_dir: Path, rows: dict[str, list[dict]], cards: dict[str, dict]) -> None:
    """Every set of this run (save_to_disk + Parquet + card) as one unit: all are built in a staging folder,
    then moved into place together, so an interrupted run leaves the old sets whole, never a mix.

    A run killed during the moves (milliseconds) leaves the staging folder marked complete; the next run
    finishes moving it before it starts.
    """
    import shutil
    import tempfile

    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    from debtgpt.io import write_json

    disable_progress_bar()  # one printed line per set is enough
    out_dir.mkdir(parents=True, exist_ok=True)
    finish_interrupted_swap(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=".sets-", dir=out_dir))
    for name, set_rows in rows.items():
        folder = staging / name
        dataset = Dataset.from_list(set_rows, features=features(name))
        dataset.save_to_disk(str(folder))
        dataset.to_parquet(str(folder / f"{name}.parquet"))
        write_json(folder / "card.json", cards[name])
        (folder / "README.md").write_text(card_markdown(cards[name]), encoding="utf-8")
    (staging / COMPLETE).write_text("\n".join(rows) + "\n")
    finish_interrupted_swap(out_dir)
    shutil.rmtree(staging, ignore_errors=True)


COMPLETE = "COMPLETE"


def finish_interrupted_swap(out_dir: Path) -> None:
    """Move every complete staging folder's sets into place; drop incomplete ones (a run killed while building)."""
    import shutil

    for staging in sorted(out_dir.glob(".sets-*")):
        if not (staging / COMPLETE).is_file():
            shutil.rmtree(staging, ignore_errors=True)
            continue
        for name in (staging / COMPLETE).read_text().split():
            if (staging / name).is_dir():
                if (out_dir / name).exists():
                    shutil.rmtree(out_dir / name)
                (staging / name).rename(out_dir / name)
        shutil.rmtree(staging, ignore_errors=True)


def make_pairs(cfg: PairsConfig) -> dict:
    """Build the configured sets; returns {set: card}."""
    from data_gen.shards import load_rollouts
    from debtgpt.reward import check_weights, score_all

    unknown = [s for s in cfg.sets if s not in SETS]
    if unknown or not cfg.sets:
        raise ValueError(f"sets={list(cfg.sets)} is not allowed; allowed values: any of {', '.join(SETS)}")
    if cfg.sft_top_k < 1 or cfg.margin < 0 or not 2 <= cfg.keep_top_k <= cfg.num_candidates:
        raise ValueError(
            f"need sft_top_k >= 1 (got {cfg.sft_top_k}), margin >= 0 (got {cfg.margin}) and "
            f"2 <= keep_top_k <= num_candidates (got {cfg.keep_top_k}, {cfg.num_candidates})"
        )
    check_weights(cfg.reward)
    config = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True) if not isinstance(cfg, dict) else cfg
    trajectories, rollouts = load_rollouts(cfg.rollouts_dir)
    # One reward for every set: the rollouts' stored rewards are recomputed with this stage's weights (the
    # reward is a function of the finished dialogue), so changing a weight never means generating again.
    score_all(trajectories, cfg.reward)
    max_turns = rollouts["max_turns"]
    groups = by_scenario(trajectories)
    out = Path(cfg.out_dir)
    print(f"pairs: {len(trajectories)} trajectories of {len(groups)} scenarios from {cfg.rollouts_dir} -> {out}")
    cards, staged = {}, {}
    source = {"rollouts": {"dir": cfg.rollouts_dir, "collector": rollouts["collector"], "seed": rollouts["seed"]}}

    if "sft" in cfg.sets:
        rows, dropped = sft_rows(groups, cfg, max_turns)
        cards["sft"] = set_card("sft", rows, dropped, groups, config, source)
        staged["sft"] = rows
        print(f"pairs: sft {len(rows)} conversations")
    if "dpo_dialogue" in cfg.sets:
        rows, dropped = dialogue_pair_rows(groups, cfg, max_turns)
        cards["dpo_dialogue"] = set_card("dpo_dialogue", rows, dropped, groups, config, source)
        staged["dpo_dialogue"] = rows
        print(f"pairs: dpo_dialogue {len(rows)} pairs, dropped {dict(Counter(r for _, r in dropped.elements()))}")
    if "dpo_turn" in cfg.sets:
        from data_gen.candidates import make_candidates

        require_at_least(2, num_candidates=cfg.num_candidates)
        require_at_least(1, rollouts_per_candidate=cfg.rollouts_per_candidate, branch_batch_size=cfg.branch_batch_size)
        points, dropped = branch_points(groups, cfg)
        candidates, stats = make_candidates(points, cfg, rollouts, out / "candidates", max_turns, cfg.progress)
        rows, pair_dropped = turn_pair_rows(candidates, cfg)
        dropped += pair_dropped
        if stats["replay_mismatches"]:
            log.warning(
                "%d replayed turns came out differently from the rollouts (agents changed since?)",
                stats["replay_mismatches"],
            )
        forward = sum(len(f) for point in candidates for f in point["forward"].values())
        extra = {
            **source,
            "branch_points": len(points),
            "judge": cfg.judge,
            "forward_rollouts": forward,
            **dict(stats),
        }
        cards["dpo_turn"] = set_card("dpo_turn", rows, dropped, groups, config, extra)
        staged["dpo_turn"] = rows
        print(
            f"pairs: dpo_turn {len(rows)} pairs from {len(points)} branch points ({forward} forward "
            f"rollouts), dropped {dict(Counter(r for _, r in dropped.elements()))}"
        )
    if "dpo_accept" in cfg.sets:
        rows = accept_pair_rows(groups, cfg, max_turns)
        counted = Counter(r["kind"] for r in rows)
        kinds = {kind: counted[kind] for kind in ACCEPT_KINDS}
        cards["dpo_accept"] = set_card("dpo_accept", rows, Counter(), groups, config, {**source, "kinds": kinds})
        staged["dpo_accept"] = rows
        print(f"pairs: dpo_accept {len(rows)} pairs ({', '.join(f'{k} {v}' for k, v in kinds.items())})")
    write_sets(out, staged, cards)
    print(f"pairs: {', '.join(staged)} -> {out}")
    return cards


@hydra.main(config_path="../configs", config_name="pairs", version_base="1.3")
def main(cfg: PairsConfig) -> None:
    with stage_errors(cfg, PairsConfig):
        make_pairs(cfg)


if __name__ == "__main__":
    run_stage(main)
