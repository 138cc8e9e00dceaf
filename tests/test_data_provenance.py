"""A data folder keeps its provenance: eval refuses splits that overlap or come from another seed's folder."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from data_gen.make_data import make_data
from debtgpt.scenarios import load_scenarios
from pipeline.config import DataConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def folders(tmp_path):
    for seed in (0, 1):
        make_data(DataConfig(num_records=60, seed=seed, out_dir=str(tmp_path / f"seed{seed}")))
    return tmp_path / "seed0", tmp_path / "seed1"


def test_a_fresh_folder_loads(folders):
    ours, _ = folders
    assert {s.id for s in load_scenarios(ours, "test")}.isdisjoint(s.id for s in load_scenarios(ours, "train"))
    assert set(json.loads((ours / "card.json").read_text())["files"]) == {
        "records.jsonl",
        "personas.jsonl",
        "train.jsonl",
        "val.jsonl",
        "test.jsonl",
    }


def test_a_split_from_another_seed_is_refused_in_one_line(folders):
    ours, theirs = folders
    shutil.copy(theirs / "test.jsonl", ours / "test.jsonl")
    with pytest.raises(
        ValueError, match=r"test.jsonl is not the file its card.json was written with \(seed 0\).*make data"
    ):
        load_scenarios(ours, "test")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eval.run",
            "collectors=[firm]",
            f"data_dir={ours}",
            f"reports_dir={ours.parent / 'reports'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: data folder") and "seed 0" in result.stderr


def test_overlapping_splits_are_refused_even_without_checksums(folders):
    ours, theirs = folders
    card = json.loads((ours / "card.json").read_text())
    del card["files"]  # a folder written before the card kept checksums
    (ours / "card.json").write_text(json.dumps(card))
    shutil.copy(theirs / "test.jsonl", ours / "test.jsonl")
    with pytest.raises(ValueError, match=r"test scenarios are also in train .*different runs.*make data"):
        load_scenarios(ours, "train")


def test_an_edited_records_file_is_refused(folders):
    ours, _ = folders
    lines = (ours / "records.jsonl").read_text().splitlines()
    (ours / "records.jsonl").write_text("\n".join(lines[1:] + lines[:1]) + "\n")
    with pytest.raises(ValueError, match="records.jsonl is not the file"):
        load_scenarios(ours, "test")
