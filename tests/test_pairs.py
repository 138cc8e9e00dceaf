"""The pairs stage: SFT and DPO sets TRL can read, shared prompts, cards that count what was dropped and why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_from_disk
from omegaconf import OmegaConf

from data_gen.make_data import make_data
from data_gen.pairs import make_pairs
from data_gen.rollouts import make_rollouts
from data_gen.shards import load_rollouts
from debtgpt.constants import ARCHETYPES
from debtgpt.facts import slot_debt_facts
from debtgpt.scenarios import MissingDataError
from pipeline.config import DataConfig, PairsConfig, RolloutsConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pairs")
    make_data(OmegaConf.structured(DataConfig(num_records=30, out_dir=str(root / "data"))))
    make_rollouts(
        OmegaConf.structured(
            RolloutsConfig(
                data_dir=str(root / "data"),
                out_dir=str(root / "rollouts"),
                max_scenarios=8,
                samples_per_scenario=4,
                shard_size=8,
                progress=False,
            )
        )
    )
    cfg = OmegaConf.structured(
        PairsConfig(rollouts_dir=str(root / "rollouts"), out_dir=str(root / "pairs"), progress=False)
    )
    return {"root": root, "cards": make_pairs(cfg), "pairs": root / "pairs"}


def test_pairs_before_rollouts_name_make_rollouts(tmp_path):
    with pytest.raises(MissingDataError, match="make rollouts"):
        make_pairs(OmegaConf.structured(PairsConfig(rollouts_dir=str(tmp_path / "none"), out_dir=str(tmp_path / "p"))))
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "data_gen.pairs",
            f"rollouts_dir={tmp_path / 'none'}",
            f"hydra.run.dir={tmp_path / 'h'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode != 0 and "make rollouts" in cli.stderr


def test_each_pair_set_is_a_module_in_the_registry_make_pairs_loops_over(tmp_path):
    import importlib
    import pkgutil

    import data_gen.pair_sets
    from data_gen.pair_sets import PAIR_SETS

    shared = {"common", "cards", "swap"}
    modules = {m.name for m in pkgutil.iter_modules(data_gen.pair_sets.__path__)} - shared
    assert list(PAIR_SETS) == ["sft", "dpo_dialogue", "dpo_turn", "dpo_accept"] and set(PAIR_SETS) == modules
    for name, pair_set in PAIR_SETS.items():
        assert importlib.import_module(f"data_gen.pair_sets.{name}").PAIR_SET is pair_set
    # a name outside the registry is refused before any rollout is read, naming the sets there are
    with pytest.raises(ValueError, match="sets=.*'dpo_step'.*any of sft, dpo_dialogue, dpo_turn, dpo_accept"):
        make_pairs(OmegaConf.structured(PairsConfig(rollouts_dir=str(tmp_path / "none"), sets=["sft", "dpo_step"])))


def test_sets_load_with_the_trl_columns(built):
    sft = load_from_disk(str(built["pairs"] / "sft"))
    assert {"messages", "scenario_id", "archetype", "reward"} <= set(sft.column_names) and len(sft) > 0
    for messages in sft["messages"]:
        assert [m["role"] for m in messages[:3]] == ["system", "user", "assistant"] and messages[-1][
            "role"
        ] == "assistant"
    assert min(sft["reward"]) >= PairsConfig.sft_min_reward
    for name in ("dpo_dialogue", "dpo_turn"):
        pairs = load_from_disk(str(built["pairs"] / name))
        assert {"prompt", "chosen", "rejected", "chosen_reward", "rejected_reward"} <= set(pairs.column_names) and len(
            pairs
        ) > 0
        assert all(c - r >= PairsConfig.margin for c, r in zip(pairs["chosen_reward"], pairs["rejected_reward"]))
        assert (built["pairs"] / name / f"{name}.parquet").exists()


def test_dialogue_pairs_share_the_opening_and_turn_pairs_one_history(built):
    dialogue = load_from_disk(str(built["pairs"] / "dpo_dialogue"))
    for row in dialogue:
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        assert row["chosen_key"] != row["rejected_key"]
    turn = load_from_disk(str(built["pairs"] / "dpo_turn"))
    trajectories = {t.key(): t for t in load_rollouts(built["root"] / "rollouts")[0]}
    for row in turn:
        assert row["prompt"][-1]["role"] == "user" and len(row["chosen"]) == len(row["rejected"]) == 1
        assert row["chosen"] != row["rejected"]
        # the prompt is the collector's side of the source dialogue up to the branch turn
        source = trajectories[row["key"].rsplit("@", 1)[0]]
        assert len(row["prompt"]) == 2 + row["branch_turn"] and row["branch_turn"] % 2 == 0
        # the collector's own greeting, its debt figures written as the slots it writes them in
        greeting = slot_debt_facts(source.turns[0].dialogue, source.scenario.record.public())
        assert (
            row["prompt"][2]["content"].startswith("{")
            and "{principal}" in greeting
            and greeting in row["prompt"][2]["content"]
        )
        # every candidate keeps its scores: judge scores for all, rollout rewards for the kept ones
        assert len(row["candidates"]) == len(row["candidate_judge_scores"]) == PairsConfig.num_candidates
        kept = [i for i, k in enumerate(row["candidate_kept"]) if k]
        assert len(kept) == PairsConfig.keep_top_k and {row["chosen_index"], row["rejected_index"]} <= set(kept)
        assert all(len(row["candidate_rewards"][i]) == PairsConfig.rollouts_per_candidate for i in kept)
        assert row["chosen_reward"] == max(row["candidate_mean_rewards"][i] for i in kept)


def test_cards_count_per_archetype_and_drop_reasons(built):
    for name in ("sft", "dpo_dialogue", "dpo_turn"):
        card = json.loads((built["pairs"] / name / "card.json").read_text())
        assert card["command"].startswith("python -m data_gen.pairs") and card["seed"] == 0
        assert set(card["by_archetype"]) == set(ARCHETYPES)
        for counts in card["by_archetype"].values():
            assert {"scenarios", "trajectories", "rows", "dropped", "rollout_reward"} <= set(counts)
        assert sum(c["rows"] for c in card["by_archetype"].values()) == card["overall"]["rows"]
        readme = (built["pairs"] / name / "README.md").read_text()
        assert all(a in readme for a in ARCHETYPES)
    turn = json.loads((built["pairs"] / "dpo_turn" / "card.json").read_text())
    assert turn["replay_mismatches"] == 0 and turn["forward_rollouts"] > 0
    assert sum(turn["overall"]["dropped"].values()) + turn["overall"]["rows"] == turn["branch_points"]
    assert set(turn["overall"]["dropped"]) <= {"tie", "under_margin", "one_distinct_candidate", "judge_unreadable"}


def test_same_seed_gives_the_same_pairs(built, tmp_path):
    cfg = OmegaConf.structured(
        PairsConfig(
            rollouts_dir=str(built["root"] / "rollouts"), out_dir=str(tmp_path), sets=["dpo_turn"], progress=False
        )
    )
    make_pairs(cfg)
    assert (
        load_from_disk(str(tmp_path / "dpo_turn")).to_list()
        == load_from_disk(str(built["pairs"] / "dpo_turn")).to_list()
    )


@pytest.mark.slow
def test_trl_trains_one_step_on_each_set(built, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    common = dict(
        max_steps=1,
        per_device_train_batch_size=2,
        use_cpu=True,
        report_to="none",
        bf16=False,
        max_length=4096,
        logging_steps=1,
        save_strategy="no",
        dataloader_num_workers=0,
    )
    sft = load_from_disk(str(built["pairs"] / "sft")).select(range(2))
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        processing_class=tokenizer,
        train_dataset=sft,
        args=SFTConfig(output_dir=str(tmp_path / "sft"), assistant_only_loss=True, **common),
    )
    assert trainer.train().global_step == 1
    for name in ("dpo_turn", "dpo_dialogue"):
        pairs = load_from_disk(str(built["pairs"] / name)).select(range(2))
        trainer = DPOTrainer(
            model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
            processing_class=tokenizer,
            train_dataset=pairs,
            args=DPOConfig(output_dir=str(tmp_path / name), **common),
        )
        assert trainer.train().global_step == 1


def test_new_reward_weights_need_no_new_rollouts(built, tmp_path):
    from pipeline.config import RewardConfig

    # the rollouts stage has no reward in its plan: rerunning it with other weights reuses every shard
    make_rollouts(
        OmegaConf.structured(
            RolloutsConfig(
                data_dir=str(built["root"] / "data"),
                out_dir=str(built["root"] / "rollouts"),
                max_scenarios=8,
                samples_per_scenario=4,
                shard_size=8,
                progress=False,
                reward=RewardConfig(CR=3.0),
            )
        )
    )
    heavy = OmegaConf.structured(
        PairsConfig(
            rollouts_dir=str(built["root"] / "rollouts"),
            out_dir=str(tmp_path),
            sets=["sft"],
            progress=False,
            reward=RewardConfig(CR=3.0),
        )
    )
    make_pairs(heavy)
    before = {r["key"]: r["reward"] for r in load_from_disk(str(built["pairs"] / "sft")).to_list()}
    after = {r["key"]: r["reward"] for r in load_from_disk(str(tmp_path / "sft")).to_list()}
    shared = set(before) & set(after)
    assert shared and all(after[k] > before[k] for k in shared)  # the same dialogues, ranked by the new weights


def test_re_pairing_reuses_the_candidates_and_equals_a_fresh_run(built, tmp_path):
    import shutil
    import time

    from pipeline.config import RewardConfig

    rollouts = str(built["root"] / "rollouts")
    base = dict(rollouts_dir=rollouts, sets=["dpo_turn"], progress=False, num_candidates=4, keep_top_k=3)
    make_pairs(OmegaConf.structured(PairsConfig(out_dir=str(tmp_path / "first"), **base)))
    shards = sorted((tmp_path / "first" / "candidates" / "shards").glob("*.jsonl"))
    stamps = [p.stat().st_mtime_ns for p in shards]
    changed = dict(margin=0.2, keep_top_k=2, reward=RewardConfig(CR=2.0, violations=3.0))
    started = time.perf_counter()
    make_pairs(OmegaConf.structured(PairsConfig(out_dir=str(tmp_path / "first"), **{**base, **changed})))
    assert time.perf_counter() - started < 30
    assert [p.stat().st_mtime_ns for p in shards] == stamps  # nothing generated again
    make_pairs(OmegaConf.structured(PairsConfig(out_dir=str(tmp_path / "fresh"), **{**base, **changed})))
    repaired = load_from_disk(str(tmp_path / "first" / "dpo_turn")).to_list()
    fresh = load_from_disk(str(tmp_path / "fresh" / "dpo_turn")).to_list()
    assert repaired == fresh and repaired  # exactly the rows of a fresh run with those settings
    # a setting that changes what is generated is refused with its name, not mixed in
    with pytest.raises(ValueError, match="num_candidates"):
        make_pairs(OmegaConf.structured(PairsConfig(out_dir=str(tmp_path / "first"), **{**base, "num_candidates": 5})))
    shutil.rmtree(tmp_path / "fresh")


def test_an_interrupted_pairs_run_leaves_the_old_sets_whole(built, tmp_path, monkeypatch):
    import data_gen.pair_sets.swap as swap

    out = tmp_path / "sets"
    make_pairs(
        OmegaConf.structured(
            PairsConfig(
                rollouts_dir=str(built["root"] / "rollouts"),
                out_dir=str(out),
                sets=["sft", "dpo_dialogue"],
                progress=False,
            )
        )
    )
    before = {name: (out / name / "card.json").read_text() for name in ("sft", "dpo_dialogue")}
    real = swap.card_markdown

    def killed(card):  # dies while building the second set of the new run
        if card["set"] == "dpo_dialogue":
            raise KeyboardInterrupt
        return real(card)

    monkeypatch.setattr(swap, "card_markdown", killed)
    with pytest.raises(KeyboardInterrupt):
        make_pairs(
            OmegaConf.structured(
                PairsConfig(
                    rollouts_dir=str(built["root"] / "rollouts"),
                    out_dir=str(out),
                    sets=["sft", "dpo_dialogue"],
                    progress=False,
                    sft_top_k=2,
                    margin=0.3,
                )
            )
        )
    assert {name: (out / name / "card.json").read_text() for name in before} == before
    monkeypatch.setattr(swap, "card_markdown", real)
    make_pairs(
        OmegaConf.structured(
            PairsConfig(
                rollouts_dir=str(built["root"] / "rollouts"),
                out_dir=str(out),
                sets=["sft", "dpo_dialogue"],
                progress=False,
                sft_top_k=2,
                margin=0.3,
            )
        )
    )
    assert all(json.loads((out / n / "card.json").read_text())["config"]["sft_top_k"] == 2 for n in before)
    assert not list(out.glob(".sets-*"))


def test_accept_pairs_put_the_experts_acceptance_against_the_collectors_own_turn(built, tmp_path):
    from data_gen.pair_sets.common import collector_view
    from debtgpt.agents.scripted import ACCEPT_THOUGHT, acceptable_counter
    from debtgpt.protocol import parse_turn
    from pipeline.config import AcceptNegatives

    # the firm collector accepts only counter-offers at or under its own discount, where the expert takes 5
    # points more: a few positives in every training scenario's 4 calls
    rollouts = tmp_path / "firm"
    make_rollouts(
        OmegaConf.structured(
            RolloutsConfig(
                data_dir=str(built["root"] / "data"),
                out_dir=str(rollouts),
                collector="firm",
                max_scenarios=None,
                samples_per_scenario=4,
                shard_size=8,
                progress=False,
            )
        )
    )
    every = dict(
        rollouts_dir=str(rollouts), sets=["dpo_accept"], progress=False, accept_negatives=AcceptNegatives(1.0, 1.0)
    )
    card = make_pairs(OmegaConf.structured(PairsConfig(out_dir=str(tmp_path / "all"), **every)))["dpo_accept"]
    rows = load_from_disk(str(tmp_path / "all" / "dpo_accept")).to_list()
    kinds = card["kinds"]
    # every kind of the teacher's acceptance occurs; firm never breaks the envelope, so nothing to correct
    assert sum(kinds.values()) == len(rows) and all(
        kinds[k] for k in ("positive", "negative_no_counter", "negative_refused")
    )
    assert kinds["correction"] == kinds["untrue_note"] == 0
    trajectories = {t.key(): t for t in load_rollouts(rollouts)[0]}
    for row in rows:
        t = trajectories[row["key"]]
        view = collector_view(t, row["branch_turn"], 24)
        own = t.turns[row["branch_turn"]]
        acceptance, other = (
            (row["chosen"], row["rejected"]) if row["kind"] == "positive" else (row["rejected"], row["chosen"])
        )
        accepted = parse_turn(acceptance[0]["content"], "collector")
        assert accepted.action == "accept" and accepted.thoughts == f"{view.evidence.note()} {ACCEPT_THOUGHT}"
        assert parse_turn(other[0]["content"], "collector").action == own.action != "accept"
        assert (acceptable_counter(view) is not None) == (row["kind"] == "positive")
        if row["kind"] != "positive":  # a negative pair raises the collector's own turn: a clean one only
            assert own.format_error is None and not own.violations
            assert (view.standing_proposal("debtor") is None) == (row["kind"] == "negative_no_counter")
    # the shares draw the negatives; every positive stays
    none = make_pairs(
        OmegaConf.structured(
            PairsConfig(out_dir=str(tmp_path / "none"), **{**every, "accept_negatives": AcceptNegatives(0.0, 0.0)})
        )
    )["dpo_accept"]["kinds"]
    assert none == {**kinds, "negative_no_counter": 0, "negative_refused": 0}
    with pytest.raises(ValueError, match=r"accept_negatives.refused=1.5 must be in \[0, 1\]"):
        make_pairs(
            OmegaConf.structured(
                PairsConfig(out_dir=str(tmp_path / "bad"), **{**every, "accept_negatives": AcceptNegatives(0.1, 1.5)})
            )
        )


def test_corrections_put_the_teachers_turn_over_the_collectors_mistake(built, tmp_path):
    from data_gen.pair_sets.common import collector_view
    from debtgpt.policy import Evidence, envelope_violations
    from debtgpt.protocol import parse_turn
    from pipeline.config import AcceptNegatives

    # the conceder breaks the envelope on most turns and accepts any counter-offer
    rollouts = tmp_path / "conceder"
    make_rollouts(
        OmegaConf.structured(
            RolloutsConfig(
                data_dir=str(built["root"] / "data"),
                out_dir=str(rollouts),
                collector="conceder",
                max_scenarios=None,
                samples_per_scenario=2,
                shard_size=8,
                progress=False,
            )
        )
    )
    settings = AcceptNegatives(no_counter=0.0, refused=1.0, refusal="teacher", corrections=1.0)
    card = make_pairs(
        OmegaConf.structured(
            PairsConfig(
                out_dir=str(tmp_path / "out"),
                rollouts_dir=str(rollouts),
                sets=["dpo_accept"],
                progress=False,
                accept_negatives=settings,
            )
        )
    )
    rows = load_from_disk(str(tmp_path / "out" / "dpo_accept")).to_list()
    assert card["dpo_accept"]["kinds"]["correction"] > 0
    trajectories = {t.key(): t for t in load_rollouts(rollouts)[0]}
    for row in rows:
        t = trajectories[row["key"]]
        view = collector_view(t, row["branch_turn"], 24)
        chosen = parse_turn(row["chosen"][0]["content"], "collector")
        if row["kind"] == "correction":  # the collector's own malformed or violating turn, below the teacher's
            own = t.turns[row["branch_turn"]]
            assert own.format_error is not None or own.violations
            assert chosen.format_error is None and chosen.thoughts.startswith(view.evidence.note())
            assert chosen.proposal is None or not envelope_violations(chosen.proposal, view.evidence)
        if (
            row["kind"] == "negative_refused"
        ):  # an acceptance whose note claims what the offer needs, below the teacher
            rejected = parse_turn(row["rejected"][0]["content"], "collector")
            assert rejected.action == "accept" and chosen.action != "accept"
            claimed = Evidence.from_note(rejected.thoughts)
            assert claimed is not None and (
                claimed != view.evidence or envelope_violations(view.standing_proposal("debtor"), view.evidence)
            )


def test_twins_put_the_teachers_offer_over_the_same_offer_with_terms_its_note_forbids(built, tmp_path):
    from data_gen.pair_sets.common import collector_view
    from debtgpt.agents.scripted import LONGEST_PREFERRED_PLAN
    from debtgpt.policy import DISCOUNT_WITHOUT_HARDSHIP, LONG_PLAN_WITHOUT_HARDSHIP, envelope_violations
    from debtgpt.protocol import parse_turn
    from pipeline.config import AcceptNegatives

    def build(twins: float, out: str) -> dict:
        settings = AcceptNegatives(
            no_counter=0.0,
            refused=0.0,
            positives=0.0,
            corrections=1.0,
            twins=twins,
            hardship_twins=twins,
            format_twins=twins,
        )
        config = PairsConfig(
            out_dir=str(tmp_path / out),
            rollouts_dir=str(built["root"] / "rollouts"),
            sets=["dpo_accept"],
            progress=False,
            accept_negatives=settings,
        )
        return make_pairs(OmegaConf.structured(config))["dpo_accept"]["kinds"]

    kinds = build(1.0, "twins")
    none = build(0.0, "none")
    twin_kinds = ("twin", "hardship_twin", "format_twin")
    assert all(kinds[k] > 0 for k in twin_kinds) and not any(none[k] for k in twin_kinds)
    rows = load_from_disk(str(tmp_path / "twins" / "dpo_accept")).to_list()
    trajectories = {t.key(): t for t in load_rollouts(built["root"] / "rollouts")[0]}
    for row in (r for r in rows if r["kind"] == "format_twin"):
        # the teacher's offer against the same text cut where its proposal starts: an `ask` the protocol cannot read
        view = collector_view(trajectories[row["key"]], row["branch_turn"], 24)
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        offer = parse_turn(chosen, "collector")
        assert (
            offer.action == "ask"
            and offer.format_error is None
            and not envelope_violations(offer.proposal, view.evidence)
        )
        assert chosen.startswith(rejected[:-1] + ', "proposal": {') and rejected.endswith('"}')
        assert parse_turn(rejected, "collector").format_error.startswith("action 'ask' needs a proposal")
    for row in (r for r in rows if r["kind"] in ("twin", "hardship_twin")):
        view = collector_view(trajectories[row["key"]], row["branch_turn"], 24)
        chosen = parse_turn(row["chosen"][0]["content"], "collector")
        rejected = parse_turn(row["rejected"][0]["content"], "collector")
        # the teacher's offer (its note true, inside the envelope) against the same turn with other terms
        assert chosen.thoughts.startswith(view.evidence.note()) and chosen.thoughts == rejected.thoughts
        assert chosen.action == rejected.action == "ask" and not envelope_violations(chosen.proposal, view.evidence)
        if row["kind"] == "twin":  # before any hardship: terms only a hardship allows
            broken = set(envelope_violations(rejected.proposal, view.evidence))
            assert not view.evidence.hardship
            assert broken and broken <= {DISCOUNT_WITHOUT_HARDSHIP, LONG_PLAN_WITHOUT_HARDSHIP}
        else:  # after one: the offer that ignores it, no discount and no long plan
            assert view.evidence.hardship and rejected.proposal != chosen.proposal
            assert rejected.proposal.disc_ratio == 0 and rejected.proposal.inst_prds <= LONGEST_PREFERRED_PLAN
        # the words say the proposal, and differ only where the terms do
        assert rejected.proposal.describe() in rejected.dialogue
        assert rejected.dialogue.replace(rejected.proposal.describe(), chosen.proposal.describe()) == chosen.dialogue
