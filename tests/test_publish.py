"""Publishing: the folder holds weights (or an adapter naming its base), tokenizer, config and a model card with
the DebtBench table per archetype; a dry run pushes nothing and the token is never written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.config import PublishConfig
from train import publish as publishing

ARCHETYPE_ROWS = {"Avoidant": 0.5, "Confrontational": 0.25, "Cooperative": None, "Helpless": 1.0}
SFT_SET_CARD = {"set": "sft", "overall": {"rows": 40}, "command": "python -m data_gen.pairs"}
DPO_SET_CARD = {"set": "dpo_turn", "overall": {"rows": 65}, "command": "python -m data_gen.pairs"}


def trained_card(run_id="20260101-000000-abcd1234", pairs_dir="data/pairs"):
    """The train_card.json train/checkpoints.py writes for a DPO run that started from an SFT run."""
    from debtgpt.provenance import training_step

    sft = {
        "run_id": "20251231-000000-00000001",
        "config": {"run": "sft-tiny", "lr": 2e-3, "data": "data/pairs/sft"},  # a card from before TRL's names
        "data_card": SFT_SET_CARD,
        "global_step": 100,
        "command": "sft.py",
    }
    dpo = {
        "run_id": run_id,
        "config": {
            "run": "dpo-tiny",
            "learning_rate": 5e-5,
            "beta": 0.1,
            "level": "turn",
            "pairs_dir": pairs_dir,
            "init_from": "checkpoints/sft-tiny/final",
        },
        "data_card": DPO_SET_CARD,
        "global_step": 20,
        "command": "dpo.py",
        "max_length": 300,
    }
    return {**dpo, "history": [training_step(sft), training_step(dpo)]}


@pytest.fixture
def checkpoint(tiny_model_dir, tmp_path):
    """A DPO run's final/: the tiny model's weights and the run's training card."""
    folder = tmp_path / "checkpoints" / "dpo-tiny" / "final"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "train_card.json").write_text(json.dumps(trained_card()))
    return folder


def write_report(path, weights_by_collector):
    def metrics(sr):
        return {"SR": sr, "CR": None if sr is None else sr * 0.9, "violations": 0.0}

    def result(name):
        return {
            "n": 12,
            "overall": metrics(0.5),
            "weights": weights_by_collector.get(name),
            "n_by_archetype": {a: 0 if v is None else 4 for a, v in ARCHETYPE_ROWS.items()},
            "by_archetype": {a: metrics(v) for a, v in ARCHETYPE_ROWS.items()},
        }

    path.write_text(
        json.dumps(
            {
                "collectors": {"dpo": result("dpo"), "expert": result("expert")},
                "config": {"split": "test", "debtor": "scripted"},
            }
        )
    )
    return path


@pytest.fixture
def report(checkpoint, tmp_path):
    """eval's metrics.json in which collector dpo was the checkpoint above."""
    from debtgpt.provenance import model_fingerprint

    return write_report(
        tmp_path / "metrics.json", {"dpo": {"model": str(checkpoint), **model_fingerprint(checkpoint)}}
    )


@pytest.fixture
def dataset_folder(tmp_path):
    folder = tmp_path / "pairs" / "dpo_turn"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps(DPO_SET_CARD))
    return folder


def publish_config(checkpoint, report, tmp_path, **overrides):
    fields = dict(
        checkpoint=str(checkpoint),
        metrics=str(report),
        collector="dpo",
        repo_id="me/debtgpt-test",
        staging_dir=str(tmp_path / "publish"),
    )
    return PublishConfig(**{**fields, **overrides})


class RefusingHub:
    def __init__(self, *args, **kwargs):
        raise AssertionError("a dry run must not reach the Hub")


def test_dry_run_writes_and_checks_the_folder_and_pushes_nothing(
    checkpoint, report, dataset_folder, tmp_path, monkeypatch
):
    monkeypatch.setattr("huggingface_hub.HfApi", RefusingHub)
    (dataset_folder / "README.md").write_text("# dpo_turn\n")
    (trained := json.loads((checkpoint / "train_card.json").read_text()))["history"][-1]["data"] = str(dataset_folder)
    (checkpoint / "train_card.json").write_text(json.dumps(trained))  # the set's folder as the run saw it
    folder = publishing.publish(publish_config(checkpoint, report, tmp_path, dry_run=True))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= {
        p.name for p in folder.iterdir()
    }
    card = (folder / "README.md").read_text()
    assert "library_name: transformers" in card and "### dpo" in card and "### expert" not in card
    assert "| Confrontational | 4 | 0.250 | 0.225 | 0.000 |" in card
    assert "| Cooperative | 0 | n/a | n/a | 0.000 |" in card  # an empty group is n/a, not 0
    assert json.loads((folder / "datasets" / "pairs-dpo_turn" / "card.json").read_text())["overall"]["rows"] == 65
    assert (
        folder / "datasets" / "pairs-dpo_turn" / "README.md"
    ).read_text() == "# dpo_turn\n"  # same version of the set
    assert "(65 rows; DPO of run `dpo-tiny`)" in card and "(40 rows; SFT of run `sft-tiny`)" in card
    assert "trained with SFT then DPO" in card and "tags: [debt-collection, negotiation, sft, dpo, trl]" in card
    assert "Collector `dpo` of" in card and "training run 20260101-000000-abcd1234" in card
    assert publishing.check_publish_folder(folder) == []


def test_an_adapter_is_published_with_its_base_named(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from debtgpt.provenance import backend_fingerprint

    adapter = tmp_path / "final"
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=2, target_modules="all-linear")
    )
    model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(adapter)
    scored = backend_fingerprint(
        {"kind": "hf", "model": str(tiny_model_dir), "adapter": str(adapter)}
    )  # as eval records it
    report = write_report(tmp_path / "metrics.json", {"dpo": scored})
    folder = publishing.publish(publish_config(adapter, report, tmp_path, dry_run=True))
    assert (folder / "adapter_model.safetensors").is_file() and not (folder / "model.safetensors").exists()
    assert f"base_model: {tiny_model_dir}" in (folder / "README.md").read_text()


def test_push_uses_the_environment_token_and_never_writes_it(checkpoint, report, tmp_path, monkeypatch):
    calls = []

    class RecordingHub:
        def __init__(self, token):
            calls.append(("token", token))

        def create_repo(self, repo_id, private, exist_ok):
            calls.append(("create", repo_id, private))
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, repo_id, folder_path, commit_message, ignore_patterns):
            calls.append(("upload", repo_id, folder_path))
            assert ignore_patterns == [publishing.STAGING_MARKER]  # the marker stays local

    secret = "hf_" + "x" * 30
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setattr("huggingface_hub.HfApi", RecordingHub)
    folder = publishing.publish(publish_config(checkpoint, report, tmp_path))
    assert calls == [
        ("token", secret),
        ("create", "me/debtgpt-test", True),
        ("upload", "me/debtgpt-test", str(folder)),
    ]
    assert not any(
        secret in p.read_text(errors="ignore") for p in folder.rglob("*") if p.is_file() and p.suffix != ".safetensors"
    )


def test_missing_pieces_fail_with_what_to_run(tiny_model_dir, checkpoint, report, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="lacks .*make dpo"):
        publishing.publish(publish_config(tmp_path / "nowhere", report, tmp_path, dry_run=True))
    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_model_dir, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(FileNotFoundError, match="weights"):
        publishing.publish(publish_config(no_weights, report, tmp_path, dry_run=True))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(RuntimeError, match="HF_TOKEN is not set"):
        publishing.publish(publish_config(checkpoint, report, tmp_path))
    with pytest.raises(ValueError, match="collector='sft' is not in the report; allowed collectors: dpo, expert"):
        publishing.publish(publish_config(checkpoint, report, tmp_path, dry_run=True, collector="sft"))


def test_training_and_publishing_never_import_the_evaluation_stage():
    import ast
    from pathlib import Path

    imported = set()
    for path in Path(publishing.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    assert "debtgpt" in imported and "eval" not in imported  # the shared tables live in debtgpt/leaderboard.py


@pytest.mark.parametrize("repo_id", ["me/", "/", "", "me/..", "a/b/c", "me/../../etc", "me/name with space"])
def test_a_repo_id_that_is_not_a_repository_name_deletes_nothing(checkpoint, report, tmp_path, repo_id):
    staging = tmp_path / "publish"
    (staging / "other").mkdir(parents=True)
    (staging / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="repo_id=.* must be 'name' or 'user/name'"):
        publishing.publish(publish_config(checkpoint, report, tmp_path, dry_run=True, repo_id=repo_id))
    assert (staging / "other" / "notes.txt").read_text() == "keep me"


def test_publish_never_deletes_a_folder_it_did_not_write(checkpoint, report, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    config = publish_config(
        checkpoint, report, tmp_path, dry_run=True, staging_dir=str(tmp_path), repo_id="me/precious"
    )
    with pytest.raises(publishing.StageError, match="already holds files that publish did not write"):
        publishing.publish(config)
    assert (precious / "notes.txt").read_text() == "keep me" and len(list(precious.iterdir())) == 1


def test_publish_replaces_its_own_staging_folder(checkpoint, report, tmp_path):
    config = publish_config(checkpoint, report, tmp_path, dry_run=True)
    first = publishing.publish(config)
    (first / "stale.txt").write_text("from an earlier publish")
    again = publishing.publish(config)
    assert again == first and not (again / "stale.txt").exists() and (again / publishing.STAGING_MARKER).is_file()


def test_a_push_without_a_token_fails_before_anything_is_written(checkpoint, report, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(publishing.StageError, match="HF_TOKEN is not set"):
        publishing.publish(publish_config(checkpoint, report, tmp_path))
    assert not (tmp_path / "publish").exists()


def retrain(folder, run_id):
    """What a second `make dpo` into the same run folder leaves: other weights, a new run id."""
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    first = sorted(weights)[0]
    weights[first] = weights[first] + 0.01
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "train_card.json").write_text(json.dumps(trained_card(run_id)))


def test_the_readme_example_publishes_the_checkpoint_eval_scored_and_refuses_a_retrained_one(
    tiny_model_dir, tmp_path, monkeypatch
):
    """make eval, then `make publish DRY_RUN=1 ARGS="checkpoint=checkpoints/dpo-tiny/final
    metrics=reports/demo/metrics.json collector=dpo"` (the README's example): the matching pair passes; after a
    retrain, and for the SFT model, one line."""
    from data_gen.make_data import make_data
    from eval.run import evaluate_collectors
    from pipeline.config import DataConfig, EvalConfig

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEBTGPT_TINY_DIR", str(tiny_model_dir))
    final = tmp_path / "checkpoints" / "dpo-tiny" / "final"
    shutil.copytree(tiny_model_dir, final)
    (final / "train_card.json").write_text(json.dumps(trained_card("20260101-000000-aaaaaaaa")))
    make_data(DataConfig(num_records=20, out_dir="data"))
    evaluate_collectors(
        EvalConfig(collectors=["dpo"], max_scenarios=1, max_turns=2, plots=False, progress=False, run="demo"),
        "reports/demo",
    )
    recorded = json.loads(Path("reports/demo/metrics.json").read_text())["collectors"]["dpo"]["weights"]
    assert recorded["train_run_id"] == "20260101-000000-aaaaaaaa" and len(recorded["weights_sha256"]) == 64

    readme = dict(
        checkpoint="checkpoints/dpo-tiny/final",
        metrics="reports/demo/metrics.json",
        collector="dpo",
        repo_id="debtgpt-tiny-dpo",
        dry_run=True,
    )
    card = (publishing.publish(PublishConfig(**readme)) / "README.md").read_text()
    assert "training run 20260101-000000-aaaaaaaa" in card and "trained with SFT then DPO" in card

    retrain(final, "20260102-000000-bbbbbbbb")
    with pytest.raises(publishing.StageError) as refused:
        publishing.publish(PublishConfig(**readme))
    line = str(refused.value)
    assert "\n" not in line and line.startswith("checkpoint=checkpoints/dpo-tiny/final (weights ")
    assert (
        "training run 20260102-000000-bbbbbbbb) is not the model scored as collector 'dpo' "
        "of metrics=reports/demo/metrics.json" in line
    )
    assert "training run 20260101-000000-aaaaaaaa, loaded from checkpoints/dpo-tiny/final)" in line

    sft = tmp_path / "checkpoints" / "sft-tiny" / "final"  # an SFT model with DPO's table
    shutil.copytree(tiny_model_dir, sft)
    with pytest.raises(
        publishing.StageError,
        match="checkpoint=checkpoints/sft-tiny/final .* is not the model scored as collector 'dpo'",
    ):
        publishing.publish(PublishConfig(**{**readme, "checkpoint": "checkpoints/sft-tiny/final"}))


def test_a_training_card_carries_its_starting_models_history_as_it_was_then(tmp_path):
    """train/checkpoints.py writes history into train_card.json: the SFT run it started from, then itself."""
    from debtgpt.provenance import training_history
    from train.checkpoints import new_run_id

    sft_final = tmp_path / "sft" / "final"
    sft_final.mkdir(parents=True)
    sft = {
        "run_id": new_run_id(),
        "config": {"run": "sft-tiny", "data": "data/pairs/sft", "model": {"name": "tiny"}},
        "data_card": SFT_SET_CARD,
        "global_step": 100,
    }
    sft["history"] = training_history(sft, "tiny")
    (sft_final / "train_card.json").write_text(json.dumps(sft))
    dpo = {
        "run_id": new_run_id(),
        "config": {"run": "dpo-tiny", "beta": 0.1, "pairs_dir": "data/pairs-sft", "init_from": str(sft_final)},
        "data_card": {**DPO_SET_CARD, "set": "dpo_accept"},
        "global_step": 20,
    }
    history = training_history(dpo, str(sft_final))
    assert [(h["method"], h["run"], h["data"], h["data_rows"]) for h in history] == [
        ("sft", "sft-tiny", "data/pairs/sft", 40),
        ("dpo", "dpo-tiny", "data/pairs-sft/dpo_accept", 65),
    ]
    assert history[0]["run_id"] == sft["run_id"] != dpo["run_id"] and history[0]["model"] == "tiny"
