"""Publish a trained collector to the Hugging Face Hub: weights (or adapter), tokenizer, model card, dataset cards.

    python -m train.publish checkpoint=checkpoints/dpo-tiny/final repo_id=me/debtgpt-tiny metrics=reports/demo/metrics.json
    python -m train.publish dry_run=true        # write and check the folder, push nothing (make publish DRY_RUN=1)

The model card carries the DebtBench tables of a report (eval.run's metrics.json), overall and per archetype,
and the cards of the datasets the model was trained on. The token comes from HF_TOKEN in the environment and
is only handed to huggingface_hub: it is never written to the folder, the card or a log.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import hydra
from omegaconf import OmegaConf

from debtgpt.cli import StageError, run_stage, stage_errors
from debtgpt.config import PublishConfig, register_configs
from debtgpt.leaderboard import collector_table, markdown_table, read_results, setting_line

register_configs()

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
STAGING_MARKER = ".debtgpt-publish"  # marks a staging folder this stage wrote, the only kind it will replace
_REPO_PART_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


def is_adapter(folder: Path) -> bool:
    return (folder / "adapter_config.json").is_file()


def check_model_folder(folder: Path) -> list[str]:
    """What a loadable model folder lacks (empty when it is complete)."""
    problems = []
    if is_adapter(folder):
        if not any((folder / f).is_file() for f in ADAPTER_FILES):
            problems.append(f"adapter weights (one of {', '.join(ADAPTER_FILES)})")
    else:
        if not (folder / "config.json").is_file():
            problems.append("config.json")
        if not any((folder / f).is_file() for f in WEIGHT_FILES):
            problems.append(f"weights (one of {', '.join(WEIGHT_FILES)})")
    if not any((folder / f).is_file() for f in TOKENIZER_FILES) or not (folder / "tokenizer_config.json").is_file():
        problems.append("tokenizer files (tokenizer_config.json and tokenizer.json)")
    return problems


def check_publish_folder(folder: Path) -> list[str]:
    problems = check_model_folder(folder)
    card = folder / "README.md"
    if not card.is_file():
        problems.append("README.md (model card)")
    elif "## Evaluation" not in card.read_text() or "| archetype |" not in card.read_text():
        problems.append("a metrics table in README.md")
    return problems


def evaluation_tables(report: dict, collector: str | None) -> list[str]:
    """One markdown table per collector (the report's renderer): rows overall and each archetype, columns the
    headline metrics."""
    names = list(report["collectors"]) if collector is None else [collector]
    lines = []
    for name in names:
        lines += [f"### {name}", "", *markdown_table(collector_table(report, name)), ""]
    return lines


def dataset_summaries(staging: Path, datasets: list[str]) -> list[str]:
    """Copy each dataset's README.md / card.json under datasets/<name>/ and list them."""
    lines = []
    for path in map(Path, datasets):
        cards = [path / name for name in ("README.md", "card.json") if (path / name).is_file()]
        if not cards:
            print(f"publish: no dataset card in {path}, left out of the model card")
            continue
        name = "-".join(path.parts[-2:])  # pairs-sft-dpo_turn and pairs-dpo_turn must not overwrite each other
        target = staging / "datasets" / name
        target.mkdir(parents=True, exist_ok=True)
        for card in cards:
            shutil.copy2(card, target / card.name)
        card = json.loads((path / "card.json").read_text()) if (path / "card.json").is_file() else {}
        rows = card.get("overall", {}).get("rows", "?")  # the pairs stage's card (data_gen/pairs.py)
        lines.append(f"- `{path}` ({rows} rows): [card](datasets/{name}/{cards[0].name})")
    return lines or ["- (no dataset card found)"]


def model_card(cfg: PublishConfig, checkpoint: Path, report: dict, datasets: list[str]) -> str:
    train_card = json.loads((checkpoint / "train_card.json").read_text()) if (checkpoint / "train_card.json").is_file() else {}
    trained = train_card.get("config", {})
    if is_adapter(checkpoint):
        base = json.loads((checkpoint / "adapter_config.json").read_text())["base_model_name_or_path"]
        header = ["library_name: peft", f"base_model: {base}"]
        usage = f"a LoRA adapter on `{base}`: load it with `peft.AutoPeftModelForCausalLM.from_pretrained`."
    else:
        base = trained.get("init_from") or trained.get("model", {}).get("name", "unknown")  # DPO starts from the SFT model
        header = ["library_name: transformers"]
        usage = "full (merged) weights: load them with `transformers.AutoModelForCausalLM.from_pretrained`."
    config = report.get("config", {})
    lines = [
        "---", *header, "tags: [debt-collection, negotiation, dpo, sft, trl]", "---", "",
        f"# {cfg.repo_id}", "",
        "A debt-collection negotiation agent (DebtGPT collector) trained with SFT and DPO on rejection-sampled",
        f"dialogues. This repository holds {usage}", "",
        "Each turn is one JSON object (thoughts, strategy, action, dialogue, and a four-field proposal with `ask`).", "",
        "## Training", "",
        f"- starting model: `{base}`; run `{trained.get('run', '?')}`, {train_card.get('global_step', '?')} optimizer steps",
        f"- learning rate {trained.get('lr', '?')}, max_length {train_card.get('max_length', '?')} (measured, nothing truncated)",
        f"- command: `{train_card.get('command', '?')}`", "",
        "## Evaluation (DebtBench)", "",
        setting_line(config), "",
        *evaluation_tables(report, cfg.collector),
        "## Training data", "", *dataset_summaries(staging_folder(cfg), datasets), "",
    ]
    return "\n".join(lines)


def staging_folder(cfg: PublishConfig) -> Path:
    """staging_dir/<repo name>, after checking repo_id is "name" or "user/name" (so it can never be staging_dir
    itself, or a folder outside it)."""
    parts = cfg.repo_id.split("/")
    if len(parts) > 2 or not all(_REPO_PART_RE.fullmatch(p) and ".." not in p for p in parts):
        raise ValueError(f"repo_id={cfg.repo_id!r} must be 'name' or 'user/name' (letters, digits, '-', '_', '.')")
    return Path(cfg.staging_dir) / parts[-1]


def prepare_staging(staging: Path) -> None:
    """Empty a staging folder this stage wrote before (it carries STAGING_MARKER); refuse any other folder with files."""
    if staging.exists():
        if not staging.is_dir() or (any(staging.iterdir()) and not (staging / STAGING_MARKER).is_file()):
            raise StageError(f"{staging} already holds files that publish did not write; choose another staging_dir "
                             "or repo_id, or move those files away yourself (publish deletes only what it wrote)")
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    (staging / STAGING_MARKER).write_text("written by train.publish; the folder is replaced on the next publish\n")


def publish(cfg: PublishConfig) -> Path:
    """Write the folder to push, check it, and push it unless dry_run; returns the folder."""
    staging = staging_folder(cfg)
    if not cfg.dry_run and not os.environ.get("HF_TOKEN"):
        raise StageError("HF_TOKEN is not set; export a Hub token with write access, or pass dry_run=true (make publish DRY_RUN=1)")
    checkpoint = Path(cfg.checkpoint)
    problems = check_model_folder(checkpoint) if checkpoint.is_dir() else [f"the folder itself ({checkpoint})"]
    if problems:
        raise FileNotFoundError(f"checkpoint={cfg.checkpoint} lacks {'; '.join(problems)}; train first (`make dpo`)")
    report = read_results(cfg.metrics)
    evaluation_tables(report, cfg.collector)  # an unknown collector fails before anything is written
    prepare_staging(staging)
    shutil.copytree(checkpoint, staging, ignore=shutil.ignore_patterns("training_args.bin", "README.md"), dirs_exist_ok=True)
    print(f"copied {checkpoint} ({'adapter' if is_adapter(checkpoint) else 'merged weights'}) to {staging}")

    (staging / "README.md").write_text(model_card(cfg, checkpoint, report, list(cfg.datasets)))
    problems = check_publish_folder(staging)
    if problems:
        raise RuntimeError(f"{staging} lacks {'; '.join(problems)}")
    print(f"checked {staging}: weights, tokenizer, config and model card with the DebtBench tables")
    if cfg.dry_run:
        print(f"dry run: would push {staging} to {cfg.repo_id}; pushed nothing")
        return staging

    from huggingface_hub import HfApi

    api = HfApi(token=os.environ["HF_TOKEN"])
    url = api.create_repo(cfg.repo_id, private=cfg.private, exist_ok=True)
    api.upload_folder(repo_id=cfg.repo_id, folder_path=str(staging), commit_message=cfg.commit_message,
                      ignore_patterns=[STAGING_MARKER])
    print(f"pushed {staging} to {url}")
    return staging


@hydra.main(config_path="../configs", config_name="publish", version_base="1.3")
def main(cfg: PublishConfig) -> None:
    with stage_errors(cfg, PublishConfig):
        publish(OmegaConf.to_object(cfg))


if __name__ == "__main__":
    run_stage(main)
