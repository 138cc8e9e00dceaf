"""Starting a dialogue from recorded turns: state restored exactly, common random numbers across candidates."""

from __future__ import annotations

from collections import Counter

from omegaconf import OmegaConf

from data_gen.branching import BranchPoint, forward_start, roll_forward, sample_candidates
from data_gen.candidates import candidate_rows
from data_gen.pair_sets.dpo_turn import turn_pair_rows
from debtgpt.agents.base import Agent
from debtgpt.agents.scripted import ScriptedDebtor, make_scripted_collector
from debtgpt.heuristic_judge import HeuristicJudge
from debtgpt.runner import DialogueJob, replay, run_dialogues
from debtgpt.scenarios import build_scenarios
from pipeline.config import PairsConfig


def recorded(n=12, seed=3):
    return run_dialogues(
        [DialogueJob(s, 1) for s in build_scenarios(n, seed=7)],
        make_scripted_collector("expert"),
        ScriptedDebtor(),
        seed=seed,
    )


def test_a_replayed_dialogue_goes_on_exactly_as_the_original():
    expert, debtor = make_scripted_collector("expert"), ScriptedDebtor()
    for original in recorded():
        cut = len(original.turns) // 2
        live, mismatches = replay(original, cut, 20, {"collector": expert, "debtor": debtor})
        assert mismatches == 0  # scripted agents regenerate every recorded turn on the original streams
        # going on from the cut on the original streams (the views' rngs are where they were) ends the same way
        rest = run_dialogues([DialogueJob(original.scenario, original.sample, start=live)], expert, debtor, seed=3)[0]
        assert [t.to_dict() for t in rest.turns] == [t.to_dict() for t in original.turns]
        assert rest.outcome == original.outcome and rest.agreement == original.agreement


def test_collectors_compared_on_a_scenario_and_sample_meet_the_same_debtor_dice():
    from debtgpt.runner import start_dialogue

    scenario = build_scenarios(1, seed=7)[0]
    debtor = ScriptedDebtor()
    firm = start_dialogue(DialogueJob(scenario, 4), make_scripted_collector("firm"), debtor, 2, 20)
    dpo = start_dialogue(DialogueJob(scenario, 4), make_scripted_collector("conceder"), debtor, 2, 20)
    other = start_dialogue(DialogueJob(scenario, 5), make_scripted_collector("firm"), debtor, 2, 20)
    draws = [[d.views["debtor"].rng.random() for _ in range(5)] for d in (firm, dpo, other)]
    assert draws[0] == draws[1] and draws[0] != draws[2]
    assert firm.trajectory.key() != dpo.trajectory.key()  # keys still name the collector


def test_samples_on_the_scenario_dice_meet_one_debtor_and_replay_exactly():
    from debtgpt.dialogue import Trajectory
    from debtgpt.runner import start_dialogue

    scenario = build_scenarios(1, seed=7)[0]
    expert, debtor = make_scripted_collector("expert"), ScriptedDebtor()
    starts = [start_dialogue(DialogueJob(scenario, s, debtor_dice=0), expert, debtor, 2, 20) for s in range(3)]
    debtor_draws = {tuple(d.views["debtor"].rng.random() for _ in range(5)) for d in starts}
    collector_draws = {tuple(d.views["collector"].rng.random() for _ in range(5)) for d in starts}
    assert len(debtor_draws) == 1 and len(collector_draws) == 3  # one debtor, three collector streams
    played = run_dialogues([DialogueJob(scenario, s, debtor_dice=0) for s in range(3)], expert, debtor, seed=2)
    for original in played:
        saved = Trajectory.from_dict(original.to_dict())  # the dice survive a round trip through the shards
        assert saved.debtor_dice == 0
        _, mismatches = replay(saved, len(saved.turns), 20, {"collector": expert, "debtor": debtor})
        assert mismatches == 0


def test_rollout_j_of_every_candidate_meets_the_same_debtor_dice():
    expert, debtor = make_scripted_collector("expert"), ScriptedDebtor()
    original = next(t for t in recorded() if len(t.turns) >= 6)
    point = BranchPoint(original, 2)
    live, _ = replay(original, 2, 20, {"collector": expert, "debtor": debtor})
    candidates = sample_candidates([(point, live)], expert, 3, seed=0)[0]
    starts = [forward_start(point, live, c, i, j, 0, 20) for i, c in enumerate(candidates) for j in range(2)]
    streams = Counter(s.views["debtor"].rng.random() for s in starts)
    assert sorted(streams.values()) == [3, 3]  # two streams (rollouts 0 and 1), each shared by the 3 candidates
    forward = roll_forward(starts, expert, debtor, seed=0, max_turns=20, batch_size=8)
    assert len({t.key() for t in forward}) == 6
    for trajectory, (i, candidate) in zip(forward, [(i, c) for i, c in enumerate(candidates) for _ in range(2)]):
        assert [t.to_dict() for t in trajectory.turns[:2]] == [t.to_dict() for t in original.turns[:2]]
        assert trajectory.turns[2].dialogue == candidate.turn.dialogue and trajectory.branch.startswith(f"2/{i}/")


def test_a_teacher_can_play_on_after_the_candidates():
    expert, firm, debtor = make_scripted_collector("expert"), make_scripted_collector("firm"), ScriptedDebtor()
    points = [BranchPoint(t, 2) for t in recorded() if len(t.turns) >= 4][:4]
    cfg = OmegaConf.structured(PairsConfig(num_candidates=3, keep_top_k=3, rollouts_per_candidate=2, margin=0.0))
    stats = Counter()
    rows, _ = turn_pair_rows(
        candidate_rows(points, cfg, firm, debtor, HeuristicJudge(), 20, stats, continuation=expert), cfg
    )
    assert stats["forward_rollouts"] > 0 and stats["replay_mismatches"] > 0  # firm did not record these dialogues
    for row in rows:
        assert row["chosen_reward"] >= row["rejected_reward"]


class StatesTheDebtAsASlot(Agent):
    """The firm collector saying the overdue amount as a slot, as the SFT model learned to (debtgpt/facts.py)."""

    role, name = "collector", "firm-slot"

    def __init__(self):
        self.firm = make_scripted_collector("firm")

    def act(self, views):
        turns = self.firm.act(views)
        for turn in turns:
            turn.dialogue += " The overdue amount is {principal}."
        return turns


def test_candidates_that_state_the_debt_as_a_slot_go_on_as_the_debtor_heard_them():
    points = [BranchPoint(t, 2) for t in recorded() if len(t.turns) >= 4][:3]
    cfg = OmegaConf.structured(PairsConfig(num_candidates=2, keep_top_k=2, rollouts_per_candidate=1, margin=0.0))
    stats = Counter()
    rows = candidate_rows(points, cfg, StatesTheDebtAsASlot(), ScriptedDebtor(), HeuristicJudge(), 20, stats)
    assert stats["forward_rollouts"] > 0 and any(row["forward"] for row in rows)


def test_the_teacher_takes_over_a_call_it_did_not_open():
    # A continuation starts from another collector's history: the teacher's memory holds nothing of the
    # opening (its concession ceiling, its steps so far), and it must still play every call to its end.
    expert, debtor = make_scripted_collector("expert"), ScriptedDebtor()
    starts = [replay(t, i, 20)[0] for t in recorded(40) for i in range(2, len(t.turns), 2)]
    forward = run_dialogues(
        [DialogueJob(s.trajectory.scenario, s.trajectory.sample, start=s) for s in starts], expert, debtor, seed=3
    )
    assert len(forward) > 100
    assert [t.error for t in forward if t.outcome == "error"] == []
