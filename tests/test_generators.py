import json
from collections import Counter

import pytest

from data_gen.make_data import make_data
from debtgpt.constants import ARCHETYPE_SHARES, ARCHETYPES
from debtgpt.personas import archetype_counts, generate_personas
from debtgpt.records import PRIVATE_RECORD_FIELDS, generate_records
from debtgpt.scenarios import MissingDataError, load_scenarios
from pipeline.config import DataConfig

FILES = ("records.jsonl", "personas.jsonl", "train.jsonl", "test.jsonl")


def test_same_seed_same_files_and_another_seed_other_files(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        make_data(DataConfig(num_records=120, seed=seed, out_dir=str(tmp_path / name)))
    for f in FILES:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    cards = [json.loads((tmp_path / name / "card.json").read_text()) for name in ("a", "b")]
    for card in cards:
        card["config"].pop("out_dir")  # the only difference between the two runs
    assert cards[0] == cards[1]
    assert (tmp_path / "a" / "records.jsonl").read_bytes() != (tmp_path / "c" / "records.jsonl").read_bytes()


def test_default_data_has_975_records_and_195_test_personas_in_the_observed_shares(tmp_path):
    card = make_data(DataConfig(out_dir=str(tmp_path)))
    assert card["counts"] == {"train": 683, "val": 97, "test": 195, "all": 975}
    for split in ("all", "train", "test"):
        for archetype in ARCHETYPES:
            assert card["archetype_shares"][split][archetype] == pytest.approx(ARCHETYPE_SHARES[archetype], abs=0.01)
    test = load_scenarios(tmp_path, "test")
    assert len(test) == 195 and len({s.id for s in test}) == 195
    assert not {s.id for s in test} & {s.id for s in load_scenarios(tmp_path, "train")}


def test_archetype_counts_follow_the_shares_exactly():
    assert archetype_counts(975) == {"Confrontational": 371, "Avoidant": 302, "Helpless": 244, "Cooperative": 58}
    records = generate_records(200, seed=1)
    counts = Counter(p.archetype for p in generate_personas(records, seed=2))
    assert counts == Counter(archetype_counts(200))


def test_records_keep_private_finances_out_of_the_public_view():
    record = generate_records(1, seed=0)[0]
    public = record.public()
    assert not set(PRIVATE_RECORD_FIELDS) & set(public)
    assert record.daily_income > 0 and record.monthly_expenses > 0 and record.current_assets >= 0


def test_personas_stay_in_their_ranges():
    for p in generate_personas(generate_records(100, seed=5), seed=6):
        assert all(0 <= v <= 10 for v in p.emotions.values())
        assert all(1 <= v <= 5 for v in p.cognition.values())
        assert p.scenario and len(p.traits) == 3 and len(p.mbti) == 4


def test_loading_before_make_data_names_the_target(tmp_path):
    with pytest.raises(MissingDataError, match="make data"):
        load_scenarios(tmp_path, "test")
    with pytest.raises(ValueError, match="allowed values: train, val, test"):
        load_scenarios(tmp_path, "dev")
