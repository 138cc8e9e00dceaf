"""Publishing: the folder holds weights (or an adapter naming its base), tokenizer, config and a model card with
the DebtBench table per archetype; a dry run pushes nothing and the token is never written."""
from __future__ import annotations

import json
import shutil

import pytest

from debtgpt.config import PublishConfig
from train import publish as publishing

ARCHETYPE_ROWS = {"Avoidant": 0.5, "Confrontational": 0.25, "Cooperative": None, "Helpless": 1.0}


@pytest.fixture
def report(tmp_path):
    def metrics(sr):
        return {"SR": sr, "CR": None if sr is None else sr * 0.9, "violations": 0.0}

    result = {
        "n": 12, "overall": metrics(0.5),
        "n_by_archetype": {a: 0 if v is None else 4 for a, v in ARCHETYPE_ROWS.items()},
        "by_archetype": {a: metrics(v) for a, v in ARCHETYPE_ROWS.items()},
    }
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"collectors": {"dpo": result, "expert": result}, "config": {"split": "test", "debtor": "scripted"}}))
    return path


@pytest.fixture
def dataset_folder(tmp_path):
    folder = tmp_path / "pairs" / "dpo_turn"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps({"overall": {"rows": 65}, "command": "pairs.py"}))
    return folder


def publish_config(checkpoint, report, dataset_folder, tmp_path, **overrides):
    fields = dict(checkpoint=str(checkpoint), metrics=str(report), collector="dpo", repo_id="me/debtgpt-test",
                  datasets=[str(dataset_folder)], staging_dir=str(tmp_path / "publish"))
    return PublishConfig(**{**fields, **overrides})


class RefusingHub:
    def __init__(self, *args, **kwargs):
        raise AssertionError("a dry run must not reach the Hub")


def test_dry_run_writes_and_checks_the_folder_and_pushes_nothing(tiny_model_dir, report, dataset_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.HfApi", RefusingHub)
    folder = publishing.publish(publish_config(tiny_model_dir, report, dataset_folder, tmp_path, dry_run=True))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= {p.name for p in folder.iterdir()}
    card = (folder / "README.md").read_text()
    assert "library_name: transformers" in card and "### dpo" in card and "### expert" not in card
    assert "| Confrontational | 4 | 0.250 | 0.225 | 0.000 |" in card
    assert "| Cooperative | 0 | n/a | n/a | 0.000 |" in card  # an empty group is n/a, not 0
    assert json.loads((folder / "datasets" / "pairs-dpo_turn" / "card.json").read_text())["overall"]["rows"] == 65
    assert "(65 rows)" in (folder / "README.md").read_text()
    assert publishing.check_publish_folder(folder) == []


def test_an_adapter_is_published_with_its_base_named(tiny_model_dir, report, dataset_folder, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = tmp_path / "final"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=2, target_modules="all-linear"))
    model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(adapter)
    folder = publishing.publish(publish_config(adapter, report, dataset_folder, tmp_path, dry_run=True))
    assert (folder / "adapter_model.safetensors").is_file() and not (folder / "model.safetensors").exists()
    assert f"base_model: {tiny_model_dir}" in (folder / "README.md").read_text()


def test_push_uses_the_environment_token_and_never_writes_it(tiny_model_dir, report, dataset_folder, tmp_path, monkeypatch):
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
    folder = publishing.publish(publish_config(tiny_model_dir, report, dataset_folder, tmp_path))
    assert calls == [("token", secret), ("create", "me/debtgpt-test", True), ("upload", "me/debtgpt-test", str(folder))]
    assert not any(secret in p.read_text(errors="ignore") for p in folder.rglob("*") if p.is_file() and p.suffix != ".safetensors")


def test_missing_pieces_fail_with_what_to_run(tiny_model_dir, report, dataset_folder, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="lacks .*make dpo"):
        publishing.publish(publish_config(tmp_path / "nowhere", report, dataset_folder, tmp_path, dry_run=True))
    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_model_dir, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(FileNotFoundError, match="weights"):
        publishing.publish(publish_config(no_weights, report, dataset_folder, tmp_path, dry_run=True))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(RuntimeError, match="HF_TOKEN is not set"):
        publishing.publish(publish_config(tiny_model_dir, report, dataset_folder, tmp_path))
    with pytest.raises(ValueError, match="collector='sft' is not in the report; allowed collectors: dpo, expert"):
        publishing.publish(publish_config(tiny_model_dir, report, dataset_folder, tmp_path, dry_run=True, collector="sft"))


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
def test_a_repo_id_that_is_not_a_repository_name_deletes_nothing(tiny_model_dir, report, dataset_folder, tmp_path, repo_id):
    staging = tmp_path / "publish"
    (staging / "other").mkdir(parents=True)
    (staging / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="repo_id=.* must be 'name' or 'user/name'"):
        publishing.publish(publish_config(tiny_model_dir, report, dataset_folder, tmp_path, dry_run=True, repo_id=repo_id))
    assert (staging / "other" / "notes.txt").read_text() == "keep me"


def test_publish_never_deletes_a_folder_it_did_not_write(tiny_model_dir, report, dataset_folder, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    config = publish_config(tiny_model_dir, report, dataset_folder, tmp_path, dry_run=True, staging_dir=str(tmp_path), repo_id="me/precious")
    with pytest.raises(publishing.StageError, match="already holds files that publish did not write"):
        publishing.publish(config)
    assert (precious / "notes.txt").read_text() == "keep me" and len(list(precious.iterdir())) == 1


def test_publish_replaces_its_own_staging_folder(tiny_model_dir, report, dataset_folder, tmp_path):
    config = publish_config(tiny_model_dir, report, dataset_folder, tmp_path, dry_run=True)
    first = publishing.publish(config)
    (first / "stale.txt").write_text("from an earlier publish")
    again = publishing.publish(config)
    assert again == first and not (again / "stale.txt").exists() and (again / publishing.STAGING_MARKER).is_file()


def test_a_push_without_a_token_fails_before_anything_is_written(tiny_model_dir, report, dataset_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(publishing.StageError, match="HF_TOKEN is not set"):
        publishing.publish(publish_config(tiny_model_dir, report, dataset_folder, tmp_path))
    assert not (tmp_path / "publish").exists()
