"""The pair sets `make pairs` builds, one module each, and their registry.

| set | module | rows |
|---|---|---|
| sft | `sft.py` | the collector's side of the best successful trajectories per scenario (`messages`) |
| dpo_dialogue | `dpo_dialogue.py` | best vs worst whole dialogue of a scenario |
| dpo_turn | `dpo_turn.py` | best vs worst candidate turn at a branch point, by forward rollouts |
| dpo_accept | `dpo_accept.py` | the teacher's decision against the collector's own turn |

Shared: `common.py` (the `PairSet` interface, drop reasons, rollout helpers), `cards.py` (each set's card.json and
README.md), `swap.py` (every set of a run written as one unit). data_gen/pairs.py is the command line; it builds
the sets `sets` names, in this registry's order. A new set is a module with a `PAIR_SET`, added here.
"""

from __future__ import annotations

from data_gen.pair_sets import dpo_accept, dpo_dialogue, dpo_turn, sft
from data_gen.pair_sets.common import BuiltSet, PairInputs, PairSet

PAIR_SETS: dict[str, PairSet] = {
    s.name: s for s in (sft.PAIR_SET, dpo_dialogue.PAIR_SET, dpo_turn.PAIR_SET, dpo_accept.PAIR_SET)
}
SETS = tuple(PAIR_SETS)

__all__ = ["PAIR_SETS", "SETS", "BuiltSet", "PairInputs", "PairSet"]
