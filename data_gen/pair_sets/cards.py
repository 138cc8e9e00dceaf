"""A pair set's card (card.json: counts overall and per archetype, drops by reason, config, versions) and its
README.md, the same for every set; what differs per set (its reward columns, its notes) is its `PairSet`'s."""

from __future__ import annotations

import sys
from collections import Counter

from data_gen.pair_sets import PAIR_SETS


def set_card(name: str, rows: list[dict], dropped: Counter, groups: dict, cfg: dict, extra: dict) -> dict:
    """Counts overall and per archetype: scenarios, trajectories, rows, reward spread, drops by reason."""
    from debtgpt.constants import ARCHETYPES
    from debtgpt.io import package_versions
    from debtgpt.reward import reward_spread

    reward_columns = PAIR_SETS[name].reward_columns

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
    pair_set = PAIR_SETS[card["set"]]
    lines = [
        f"# DebtGPT {card['set']} set",
        "",
        f"Made by `{card['command']}` (seed {card['seed']}) from `{card['config']['rollouts_dir']}`.",
        "",
        "| archetype | scenarios | trajectories | rows | reward min / mean / max | dropped |",
        "|---|---|---|---|---|---|",
    ]
    column = pair_set.reward_columns[0]
    for archetype, s in [*card["by_archetype"].items(), ("all", card["overall"])]:
        spread = s[column]
        shown = "n/a" if spread["n"] == 0 else f"{spread['min']} / {spread['mean']} / {spread['max']}"
        drops = ", ".join(f"{k}: {v}" for k, v in s["dropped"].items()) or "none"
        lines.append(f"| {archetype} | {s['scenarios']} | {s['trajectories']} | {s['rows']} | {shown} | {drops} |")
    lines += pair_set.notes(card)
    return "\n".join(lines) + "\n"
