"""The dpo_dialogue set: best vs worst trajectory of a scenario; prompt = system + the call opening (nothing heard
yet). The completions are whole dialogues, debtor turns included, and TRL's DPO scores every completion token: the
debtor's words weigh in the loss too. That is why the turn level (dpo_turn) exists. Pairs under `margin` and ties
are dropped, counted by reason."""

from __future__ import annotations

from collections import Counter

from data_gen.pair_sets.common import (
    SINGLE_TRAJECTORY,
    BuiltSet,
    PairInputs,
    PairSet,
    conversation,
    dropped_reasons,
    pair_gap_reason,
    ranked,
    side_features,
    split_shared_prompt,
)


def features():
    from datasets import Features, List, Value

    return Features(
        {
            **side_features(),
            "chosen_reward": Value("float64"),
            "rejected_reward": Value("float64"),
            "chosen_key": Value("string"),
            "rejected_key": Value("string"),
            "keys": List(Value("string")),
            "rewards": List(Value("float64")),
        }
    )


def dialogue_pair_rows(groups: dict, cfg, max_turns: int) -> tuple[list[dict], Counter]:
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


def build(inputs: PairInputs) -> BuiltSet:
    rows, dropped = dialogue_pair_rows(inputs.groups, inputs.cfg, inputs.max_turns)
    return BuiltSet(rows, dropped, f"pairs: dpo_dialogue {len(rows)} pairs, dropped {dropped_reasons(dropped)}")


def notes(card: dict) -> list[str]:
    return [
        "",
        "Rewards above are of the chosen side; card.json has the rejected side and every quantile.",
        "",
        "Completions are whole dialogues: TRL's DPO loss covers the debtor's turns as well.",
    ]


PAIR_SET = PairSet(name="dpo_dialogue", build=build, features=features, notes=notes)
