"""SFT on the tiny model: loss on the collector's turns only, lengths measured not truncated, resume mid-run."""

from __future__ import annotations

import json

import pytest

from train.checkpoints import last_checkpoint
from train.data import fit_max_length
from train.sft import train_sft
from train.tracking import redact

from workload import sft_run_config, write_workload


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    return write_workload(tmp_path_factory.mktemp("pairs"), n_scenarios=3)


def sft_config(tiny_model_dir, pairs_dir, root, **overrides):
    settings = {"per_device_train_batch_size": 1, "logging_steps": 1, **overrides}
    return sft_run_config(tiny_model_dir, pairs_dir, root, **settings)


def test_sft_learns_only_the_collector_turns_and_saves_final(tiny_model_dir, pairs_dir, tmp_path):
    cfg = sft_config(tiny_model_dir, pairs_dir, tmp_path, max_steps=1)
    out = train_sft(cfg, tmp_path / "sft")
    final = tmp_path / "sft" / "final"
    assert {"config.json", "model.safetensors", "tokenizer.json", "train_card.json"} <= {
        p.name for p in final.iterdir()
    }
    card = json.loads((final / "train_card.json").read_text())
    assert card["max_length"] == out["max_length"] and card["global_step"] == 1
    # the trained tokens are the collector's JSON turns and their end-of-turn token, never the debtor's words
    tokenizer, example = out["trainer"].processing_class, out["trainer"].train_dataset[0]
    targets = tokenizer.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != -100])
    assert targets.startswith('{"thoughts"') and targets.count("<|im_end|>") == targets.count('{"thoughts"')
    assert "(The call connects" not in targets
    # max_length = the longest dialogue: nothing was cut
    assert len(example["input_ids"]) <= out["max_length"] and out["examples"] == 3


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tiny_model_dir, pairs_dir, tmp_path):
    run_dir = tmp_path / "sft"
    train_sft(
        sft_config(tiny_model_dir, pairs_dir, tmp_path, max_steps=2, save_steps=1), run_dir
    )  # "killed" after step 2
    checkpoint = last_checkpoint(run_dir)
    assert checkpoint.endswith("checkpoint-2")
    state_file = run_dir / "checkpoint-2" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state["log_history"][0]["marker"] = "from checkpoint-2"  # only a run that loads this state carries it
    state_file.write_text(json.dumps(state))

    out = train_sft(sft_config(tiny_model_dir, pairs_dir, tmp_path, max_steps=4, save_steps=1), run_dir)
    assert out["resumed_from"].endswith("checkpoint-2") and out["global_step"] == 4
    history = [row for row in out["trainer"].state.log_history if "loss" in row]
    assert [row["step"] for row in history] == [1, 2, 3, 4]
    assert history[0]["marker"] == "from checkpoint-2"


@pytest.mark.slow
def test_a_finished_run_is_never_resumed_under_new_settings(tiny_model_dir, pairs_dir, tmp_path):
    run_dir = tmp_path / "sft"
    train_sft(sft_config(tiny_model_dir, pairs_dir, tmp_path, max_steps=1, save_steps=1), run_dir)
    with pytest.raises(
        ValueError,
        match=r"holds a run made with other settings \(config\.learning_rate: 0\.002 -> 0\.0005\).*resume=false",
    ):
        train_sft(
            sft_config(tiny_model_dir, pairs_dir, tmp_path, max_steps=1, save_steps=1, learning_rate=5e-4), run_dir
        )
    out = train_sft(
        sft_config(tiny_model_dir, pairs_dir, tmp_path, max_steps=1, save_steps=1, learning_rate=5e-4, resume=False),
        run_dir,
    )
    assert out["resumed_from"] is None and out["global_step"] == 1
    card = json.loads((run_dir / "final" / "train_card.json").read_text())
    assert card["config"]["learning_rate"] == 5e-4
    # new data in the same folder is a new setting too
    data = write_workload(tmp_path / "pairs", n_scenarios=3)
    train_sft(sft_config(tiny_model_dir, data, tmp_path, max_steps=1, save_steps=1, resume=False), run_dir)
    write_workload(data, n_scenarios=4)
    with pytest.raises(ValueError, match=r"other settings \(data_card: .*data_fingerprint: "):
        train_sft(sft_config(tiny_model_dir, data, tmp_path, max_steps=1, save_steps=1), run_dir)


def test_max_length_fits_the_longest_example_unless_capped():
    assert fit_max_length([30, 50, 40], None, "fail", 4096, "SFT") == (50, [0, 1, 2])
    assert fit_max_length([30, 50, 40], 45, "drop", 4096, "SFT") == (45, [0, 2])
    with pytest.raises(ValueError, match="1 of 3 SFT examples are longer than max_length=45"):
        fit_max_length([30, 50, 40], 45, "fail", 4096, "SFT")
    with pytest.raises(ValueError, match="exceeds the model's context of 32"):
        fit_max_length([30, 50, 40], None, "fail", 32, "SFT")


def test_secrets_never_reach_the_logged_config(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnop")
    logged = redact(
        {"lr": 1e-4, "api_key": "x", "wandb": {"entity": "me", "token": "t"}, "note": "hf_abcdefghijklmnop"}
    )
    assert logged == {"lr": 1e-4, "wandb": {"entity": "me"}, "note": "<redacted>"}
