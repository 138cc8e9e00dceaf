"""The rollouts stage: reproducible shards, resuming after a kill, and errors that name the fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from data_gen.make_data import make_data
from data_gen.rollouts import make_rollouts
from data_gen.shards import load_rollouts
from debtgpt.scenarios import MissingDataError
from pipeline.config import DataConfig, RolloutsConfig

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(max_scenarios=8, samples_per_scenario=2, shard_size=3, progress=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    make_data(OmegaConf.structured(DataConfig(num_records=30, out_dir=str(out))))
    return out


def rollouts_config(data_dir: Path, out_dir: Path, **overrides):
    return OmegaConf.structured(RolloutsConfig(data_dir=str(data_dir), out_dir=str(out_dir), **{**SMALL, **overrides}))


def shard_bytes(out_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out_dir / "shards").glob("shard-*.jsonl"))}


def recorded_shards(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / "plan.json").read_text()).get("shard_checksums", {})
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def test_same_seed_gives_byte_identical_shards(data_dir, tmp_path):
    card = make_rollouts(rollouts_config(data_dir, tmp_path / "a"))
    make_rollouts(rollouts_config(data_dir, tmp_path / "b", batch_size=5))  # batching must not matter
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")
    assert len(shard_bytes(tmp_path / "a")) == 6 and card["counts"]["dialogues"] == 16
    assert sum(s["dialogues"] for s in card["by_archetype"].values()) == 16
    assert "dialogues_per_second" in json.loads((tmp_path / "a" / "timing.json").read_text())
    trajectories, _ = load_rollouts(tmp_path / "a")
    assert all(t.reward is not None and t.reward_parts for t in trajectories)


def test_killed_run_resumes_to_the_uninterrupted_result(data_dir, tmp_path):
    make_rollouts(rollouts_config(data_dir, tmp_path / "whole"))
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "data_gen.rollouts",
        f"data_dir={data_dir}",
        f"out_dir={out}",
        *(f"{k}={v}" for k, v in SMALL.items()),
        f"hydra.run.dir={tmp_path / 'hydra'}",
    ]
    process = subprocess.Popen(
        [*command, "shard_delay_s=1.0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 40
    while not recorded_shards(out):  # a shard is complete once plan.json holds its checksum
        assert process.poll() is None and time.monotonic() < deadline, "the first shard never appeared"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "card.json").exists()
    assert 1 <= len(shard_bytes(out)) < 6
    # What a crash outside the atomic write could leave: a stray temporary and a torn shard. Both are redone.
    (out / "shards" / ".shard-00004.jsonl.x1.tmp").write_text("{")
    (out / "shards" / "shard-00003.jsonl").write_text('{"key": "torn')

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert "already complete" in rerun.stdout and "0 already complete" not in rerun.stdout
    assert shard_bytes(out) == shard_bytes(tmp_path / "whole")
    trajectories, card = load_rollouts(out)
    keys = [t.key() for t in trajectories]
    assert len(keys) == len(set(keys)) == card["counts"]["dialogues"] == 16


def test_a_different_plan_in_the_same_folder_is_refused(data_dir, tmp_path):
    make_rollouts(rollouts_config(data_dir, tmp_path / "r"))
    with pytest.raises(ValueError, match="seed: 0 -> 1.*pass overwrite=true to discard them"):
        make_rollouts(rollouts_config(data_dir, tmp_path / "r", seed=1))
    (tmp_path / "r" / "notes.txt").write_text("mine")
    card = make_rollouts(rollouts_config(data_dir, tmp_path / "r", seed=1, overwrite=True))
    assert card["seed"] == 1 and (tmp_path / "r" / "notes.txt").read_text() == "mine"
    assert {t.seed for t in load_rollouts(tmp_path / "r")[0]} == {1}


def test_scenario_dice_give_every_sample_sample_0s_debtor(data_dir, tmp_path):
    make_rollouts(rollouts_config(data_dir, tmp_path / "r", debtor_dice="scenario", collector="firm"))
    trajectories, _ = load_rollouts(tmp_path / "r")
    assert {t.debtor_dice for t in trajectories} == {0}
    assert json.loads((tmp_path / "r" / "plan.json").read_text())["debtor_dice"] == "scenario"
    with pytest.raises(ValueError, match="debtor_dice: 'scenario' -> None"):  # resuming with other dice is refused
        make_rollouts(rollouts_config(data_dir, tmp_path / "r", collector="firm"))
    with pytest.raises(
        ValueError, match=r"Invalid value 'mood', expected one of \[sample, scenario\]\s+full_key: debtor_dice"
    ):
        rollouts_config(data_dir, tmp_path / "r", debtor_dice="mood")


def test_rollouts_before_data_name_make_data(tmp_path):
    with pytest.raises(MissingDataError, match="make data"):
        make_rollouts(rollouts_config(tmp_path / "nothing", tmp_path / "r"))


def test_bad_option_names_the_field(data_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown judge.*'gpt'.*allowed judges: "):
        make_rollouts(rollouts_config(data_dir, tmp_path / "r", judge="gpt"))


def test_an_edited_shard_is_refused_and_rerun(data_dir, tmp_path):
    out = tmp_path / "r"
    make_rollouts(rollouts_config(data_dir, out))
    original = shard_bytes(out)
    path = out / "shards" / "shard-00002.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["reward"] = 99.0  # still valid JSON with the right keys
    path.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
    with pytest.raises(ValueError, match="shard-00002.jsonl changed after it was written.*rerun `make rollouts`"):
        load_rollouts(out)
    card = make_rollouts(rollouts_config(data_dir, out))
    assert shard_bytes(out) == original and card["counts"]["dialogues"] == 16
    assert load_rollouts(out)[0][0].reward is not None


@pytest.mark.parametrize("damage", [b'{"key": "trunc', b"\xff\xfe\x00binary"])
def test_a_damaged_shard_names_the_file_and_the_fix(data_dir, tmp_path, damage):
    out = tmp_path / "r"
    make_rollouts(rollouts_config(data_dir, out))
    (out / "shards" / "shard-00001.jsonl").write_bytes(damage)
    with pytest.raises(ValueError, match=r"shard-00001\.jsonl .*rerun `make rollouts`"):
        load_rollouts(out)
