"""The sft set: the collector's side of the best `sft_top_k` successful trajectories per scenario with reward at least
`sft_min_reward`: system = information card and instructions, assistant = the collector's JSON turns, user = what
it heard (agents.prompting.collector_messages). Column contract (TRL): `messages`."""

from __future__ import annotations

from collections import Counter

from data_gen.pair_sets.common import (
    NO_SUCCESS_ABOVE_THRESHOLD,
    BuiltSet,
    PairInputs,
    PairSet,
    common_features,
    conversation,
    message_features,
    ranked,
)


def features():
    from datasets import Features, List, Value

    return Features(
        {
            "messages": List(message_features()),
            **common_features(),
            "key": Value("string"),
            "reward": Value("float64"),
            "rank": Value("int32"),
        }
    )


def sft_rows(groups: dict, cfg, max_turns: int) -> tuple[list[dict], Counter]:
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


def build(inputs: PairInputs) -> BuiltSet:
    rows, dropped = sft_rows(inputs.groups, inputs.cfg, inputs.max_turns)
    return BuiltSet(rows, dropped, f"pairs: sft {len(rows)} conversations")


PAIR_SET = PairSet(name="sft", build=build, features=features, reward_columns=("reward",))
