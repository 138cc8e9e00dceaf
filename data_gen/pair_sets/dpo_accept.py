"""The dpo_accept set: the teacher's decision against the collector's own, one turn at a time (docs/experiments/).

Each kind is drawn at its share of `accept_negatives`:
- positives, where the debtor's standing counter-offer is one the expert accepts and the collector did not
  (chosen = the expert's acceptance, rejected = the collector's turn);
- negatives at the other clean turns (chosen = that turn or the teacher's, rejected = an acceptance);
- corrections, where the collector's turn was malformed or out of the envelope (or its evidence note untrue):
  chosen = the teacher's turn at that state, rejected = the collector's;
- twins, at the other states before a hardship where the teacher makes an offer: chosen = that offer, rejected =
  the same offer with a discount or a long plan (its note kept), so the two sides differ only in terms the note
  forbids; hardship twins, after a hardship, where the teacher's offer holds what only the hardship allows:
  chosen = that offer, rejected = the same offer without it;
- format twins, at any state where the teacher makes an offer, drawn on their own (a state may also give one of
  the kinds above): chosen = that offer, rejected = the same `ask` with its proposal left out, the trained
  collectors' commonest malformed turn. The two sides part where the dialogue's string closes.
The recipe's kinds are in configs/experiment/sft_pairs.yaml. Train with `train.dpo level=accept` and
`decision_tokens`, which keeps only that many tokens from where the two sides part in the loss.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

from data_gen.pair_sets.common import BuiltSet, PairInputs, PairSet, collector_view, side_features

# dpo_accept's kinds of pair: where the teacher accepts; where it does not, with no counter-offer standing or with
# one it refuses; and the teacher's turn over the collector's mistake (a malformed or out-of-envelope turn, an
# untrue evidence note); the teacher's offer over its twin outside the envelope, and over the twin that ignores a
# disclosed hardship
ACCEPT_KINDS = (
    "positive",
    "negative_no_counter",
    "negative_refused",
    "correction",
    "untrue_note",
    "twin",
    "hardship_twin",
    "format_twin",
)
# the share of each kind drawn (config.AcceptNegatives field)
ACCEPT_SHARES = {
    "positive": "positives",
    "negative_no_counter": "no_counter",
    "negative_refused": "refused",
    "correction": "corrections",
    "untrue_note": "untrue_notes",
    "twin": "twins",
    "hardship_twin": "hardship_twins",
    "format_twin": "format_twins",
}
TWINS = ("twin", "hardship_twin")
CORRECTIONS = ("correction", "untrue_note")
# the chosen side of a negative pair (config.AcceptNegatives.refusal)
ACCEPT_REFUSALS = ("own", "teacher")


def features():
    from datasets import Features, Value

    return Features(
        {
            **side_features(),
            "key": Value("string"),
            "branch_turn": Value("int32"),
            "kind": Value("string"),
            "dialogue_reward": Value("float64"),  # the reward of the rollout the turn is from
        }
    )


def accept_pair_rows(groups: dict, cfg, max_turns: int) -> list[dict]:
    """The dpo_accept set: the teacher's decision against the collector's own turn (module docstring)."""
    from data_gen.candidates import candidate_text
    from debtgpt.agents.prompting import collector_messages
    from debtgpt.agents.scripted import (
        acceptable_counter,
        expert_acceptance,
        expert_turn,
        hardship_ignored_twin,
        outside_envelope_twin,
        unfaithful_acceptance,
    )
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

    def add(t, i: int, view, kind: str, chosen: list[dict], rejected: list[dict]) -> None:
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

    for group in groups.values():
        for t in sorted(group, key=lambda t: t.sample):
            checked = turn_compliance(t)
            for i, turn in enumerate(t.turns):
                if turn.role != "collector" or i == 0:
                    continue
                if _drawn(shares["format_twin"], f"{cfg.seed}/{t.key()}/{i}/format"):
                    view = collector_view(t, i, max_turns)  # its own view: expert_turn uses up the view it is given
                    offer = expert_turn(view)
                    if offer.action == "ask" and offer.proposal is not None:
                        sides = (offer, replace(offer, proposal=None))
                        add(
                            t, i, view, "format_twin", *(_said(write_turn(side, view.public_record)) for side in sides)
                        )
                view = collector_view(t, i, max_turns)
                kind = accept_kind(
                    turn, checked[i], view, acceptable_counter(view) is not None, shares["untrue_note"] > 0
                )
                # every positive is kept at share 1, so the draw only ever thins the other kinds there
                if kind is None or not _drawn(shares[kind], f"{cfg.seed}/{t.key()}/{i}/accept"):
                    # a clean state left out of its own kind may give a twin, where the teacher makes an offer
                    twin_kind = "hardship_twin" if view.evidence.hardship else "twin"
                    if kind in CORRECTIONS or not _drawn(shares[twin_kind], f"{cfg.seed}/{t.key()}/{i}/twin"):
                        continue
                    kind, offer = twin_kind, expert_turn(view)
                    if kind == "twin":
                        field_draw = random.Random(f"{cfg.seed}/{t.key()}/{i}/field")
                        twin = outside_envelope_twin(offer, view.evidence, field_draw)
                    else:
                        twin = hardship_ignored_twin(offer, view.evidence)
                    if twin is None:
                        continue
                public = view.public_record
                own = _said(candidate_text(turn, public))
                if kind in TWINS:
                    chosen, rejected = _said(write_turn(offer, public)), _said(write_turn(twin, public))
                elif kind == "positive":
                    chosen, rejected = _said(write_turn(expert_acceptance(view))), own
                elif kind in CORRECTIONS:
                    chosen, rejected = _said(write_turn(expert_turn(view), public)), own
                elif refusal == "own":
                    chosen, rejected = own, _said(write_turn(expert_acceptance(view)))
                else:
                    chosen = _said(write_turn(expert_turn(view), public))
                    rejected = _said(write_turn(unfaithful_acceptance(view)))
                add(t, i, view, kind, chosen, rejected)
    return rows


def _drawn(share: float, key: str) -> bool:
    """Whether the state at `key` is drawn for a kind taken at `share`; the same key always draws the same."""
    return share >= 1 or (share > 0 and random.Random(key).random() < share)


def _said(text: str) -> list[dict]:
    """One side of a pair: the collector's turn as its assistant message."""
    return [{"role": "assistant", "content": text}]


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


def build(inputs: PairInputs) -> BuiltSet:
    rows = accept_pair_rows(inputs.groups, inputs.cfg, inputs.max_turns)
    counted = Counter(r["kind"] for r in rows)
    kinds = {kind: counted[kind] for kind in ACCEPT_KINDS}
    summary = f"pairs: dpo_accept {len(rows)} pairs ({', '.join(f'{k} {v}' for k, v in kinds.items())})"
    return BuiltSet(rows, Counter(), summary, {"kinds": kinds})


def notes(card: dict) -> list[str]:
    kinds = ", ".join(f"{k}: {v}" for k, v in card["kinds"].items())
    return ["", f"Rewards above are of the rollouts the pairs are from. Pairs by kind: {kinds}."]


PAIR_SET = PairSet(name="dpo_accept", build=build, features=features, reward_columns=("dialogue_reward",), notes=notes)
