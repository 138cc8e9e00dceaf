"""Publish a trained collector to the Hugging Face Hub: weights (or adapter), tokenizer, model card, dataset cards.

    python -m train.publish checkpoint=checkpoints/dpo-tiny/final repo_id=me/debtgpt-tiny \\
        metrics=reports/demo/metrics.json
    python -m train.publish dry_run=true        # write and check the folder, push nothing (make publish DRY_RUN=1)

The model card carries the DebtBench tables of a report (eval.run's metrics.json), overall and per archetype,
only when that report scored these very weights (the fingerprint eval records: a hash of the weight files and
the training run's id); how the model was trained and on which datasets comes from its own train_card.json. The
token comes from HF_TOKEN in the environment and is only handed to huggingface_hub: it is never written to the
folder, the card or a log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import hydra
from omegaconf import OmegaConf

from debtgpt.leaderboard import collector_table, markdown_table, read_results, setting_line
from debtgpt.provenance import describe, model_fingerprint, same_model, training_step
from debtgpt.provenance import train_card as read_train_card
from pipeline.cli import StageError, run_stage, stage_errors
from pipeline.config import PublishConfig, register_configs

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


def dataset_summaries(staging: Path, history: list[dict]) -> list[str]:
    """Each training run's dataset under datasets/<name>/: its card as the run recorded it (card.json), and the
    folder's README.md only while that folder still holds the same version of the set."""
    lines = []
    for step in history:
        if not step.get("data"):
            continue
        path, card = Path(step["data"]), step.get("data_card") or {}
        name = "-".join(path.parts[-2:])  # pairs-sft-dpo_turn and pairs-dpo_turn must not overwrite each other
        target = staging / "datasets" / name
        target.mkdir(parents=True, exist_ok=True)
        if card:
            (target / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        now = json.loads((path / "card.json").read_text()) if (path / "card.json").is_file() else None
        if now == card and (path / "README.md").is_file():
            shutil.copy2(path / "README.md", target / "README.md")
        rows = step.get("data_rows") if step.get("data_rows") is not None else "?"
        link = f": [card](datasets/{name}/card.json)" if card else " (no card recorded)"
        lines.append(f"- `{path}` ({rows} rows; {step['method'].upper()} of run `{step.get('run')}`){link}")
    return lines or ["- (the training card records no dataset)"]


def training_lines(history: list[dict], base: str) -> list[str]:
    """What the checkpoint's own training card says about how it was made, run by run."""
    if not history:
        return [
            "- this checkpoint has no training card (train_card.json): it was not made by this project's train "
            "stages, so nothing is claimed here about its training"
        ]
    lines = [f"- starting model: `{base}`"]
    for step in history:
        learning_rate = step.get("learning_rate", step.get("lr", "?"))  # cards before TRL's names say lr
        lines.append(
            f"- {step['method'].upper()}: run `{step.get('run')}` (id `{step.get('run_id') or 'unrecorded'}`), "
            f"{step.get('global_step', '?')} optimizer steps at learning rate {learning_rate} "
            f"on `{step.get('data')}`; "
            f"command `{step.get('command', '?')}`"
        )
    return lines


def model_card(cfg: PublishConfig, checkpoint: Path, report: dict, fingerprint: dict, scored: str) -> str:
    train_card = read_train_card(checkpoint)
    trained = train_card.get("config", {})
    history = train_card.get("history") or ([training_step(train_card)] if train_card else [])
    if is_adapter(checkpoint):
        base = json.loads((checkpoint / "adapter_config.json").read_text())["base_model_name_or_path"]
        header = ["library_name: peft", f"base_model: {base}"]
        usage = f"a LoRA adapter on `{base}`: load it with `peft.AutoPeftModelForCausalLM.from_pretrained`."
    else:
        base = trained.get("init_from") or trained.get("model", {}).get(
            "name", "unknown"
        )  # DPO starts from the SFT model
        header = ["library_name: transformers"]
        usage = "full (merged) weights: load them with `transformers.AutoModelForCausalLM.from_pretrained`."
    if history and history[0]["method"] == "sft" and history[0].get("model") and not is_adapter(checkpoint):
        base = history[0]["model"]  # the model SFT started from, before every run the history lists
    elif history and history[0]["method"] == "dpo":
        base = f"{base} (its own training is not recorded in this checkpoint's card)"
    methods = [step["method"] for step in history]
    how = " then ".join(dict.fromkeys(m.upper() for m in methods)) if methods else None
    trained_line = (
        f"A debt-collection negotiation agent (DebtGPT collector) trained with {how} on rejection-sampled dialogues."
        if how
        else "A debt-collection negotiation agent (DebtGPT collector); how it was trained is not recorded."
    )
    config = report.get("config", {})
    lines = [
        "---",
        *header,
        f"tags: [{', '.join(['debt-collection', 'negotiation', *dict.fromkeys(methods), 'trl'])}]",
        "---",
        "",
        f"# {cfg.repo_id}",
        "",
        trained_line,
        f"This repository holds {usage}",
        "",
        "Each turn is one JSON object (thoughts, strategy, action, dialogue, and a four-field proposal with `ask`).",
        "",
        "## Training",
        "",
        *training_lines(history, base),
        f"- max_length {train_card.get('max_length', '?')} (measured, nothing truncated)" if train_card else "",
        "",
        "## Evaluation (DebtBench)",
        "",
        f"Collector `{scored}` of `{cfg.metrics}` is these weights ({describe(fingerprint)}).",
        "",
        setting_line(config),
        "",
        *evaluation_tables(report, cfg.collector),
        "## Training data",
        "",
        *dataset_summaries(staging_folder(cfg), history),
        "",
    ]
    return "\n".join(lines)


def scored_collector(cfg: PublishConfig, report: dict, fingerprint: dict) -> str:
    """The report's collector whose weights are the checkpoint's; one line naming both when there is none."""
    names = [cfg.collector] if cfg.collector is not None else list(report["collectors"])
    for name in names:
        if same_model(report["collectors"][name].get("weights"), fingerprint):
            return name
    theirs = report["collectors"][names[0]].get("weights") if len(names) == 1 else None
    scored = (
        (
            f"collector {names[0]!r} of metrics={cfg.metrics} ({describe(theirs)}"
            f"{', loaded from ' + theirs['model'] if theirs and theirs.get('model') else ''})"
        )
        if len(names) == 1
        else f"any collector of metrics={cfg.metrics} ({', '.join(names)})"
    )
    raise StageError(
        f"checkpoint={cfg.checkpoint} ({describe(fingerprint)}) is not the model scored as {scored}; "
        f"evaluate this checkpoint (make eval) and publish with that report, "
        f"or publish the checkpoint the report scored"
    )


def staging_folder(cfg: PublishConfig) -> Path:
    """staging_dir/<repo name>, after checking repo_id is "name" or "user/name" (so it can never be staging_dir
    itself, or a folder outside it)."""
    parts = cfg.repo_id.split("/")
    if len(parts) > 2 or not all(_REPO_PART_RE.fullmatch(p) and ".." not in p for p in parts):
        raise ValueError(f"repo_id={cfg.repo_id!r} must be 'name' or 'user/name' (letters, digits, '-', '_', '.')")
    return Path(cfg.staging_dir) / parts[-1]


def prepare_staging(staging: Path) -> None:
    """Empty a staging folder this stage wrote before (it carries STAGING_MARKER); refuse any other folder with
    files."""
    if staging.exists():
        if not staging.is_dir() or (any(staging.iterdir()) and not (staging / STAGING_MARKER).is_file()):
            raise StageError(
                f"{staging} already holds files that publish did not write; choose another staging_dir "
                "or repo_id, or move those files away yourself (publish deletes only what it wrote)"
            )
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    (staging / STAGING_MARKER).write_text("written by train.publish; the folder is replaced on the next publish\n")


def publish(cfg: PublishConfig) -> Path:
    """Write the folder to push, check it, and push it unless dry_run; returns the folder."""
    staging = staging_folder(cfg)
    if not cfg.dry_run and not os.environ.get("HF_TOKEN"):
        raise StageError(
            "HF_TOKEN is not set; export a Hub token with write access, or pass dry_run=true (make publish DRY_RUN=1)"
        )
    checkpoint = Path(cfg.checkpoint)
    problems = check_model_folder(checkpoint) if checkpoint.is_dir() else [f"the folder itself ({checkpoint})"]
    if problems:
        raise FileNotFoundError(f"checkpoint={cfg.checkpoint} lacks {'; '.join(problems)}; train first (`make dpo`)")
    report = read_results(cfg.metrics)
    evaluation_tables(report, cfg.collector)  # an unknown collector fails before anything is written
    fingerprint = model_fingerprint(checkpoint)
    scored = scored_collector(cfg, report, fingerprint)  # another model's scores never go on this card
    prepare_staging(staging)
    shutil.copytree(
        checkpoint, staging, ignore=shutil.ignore_patterns("training_args.bin", "README.md"), dirs_exist_ok=True
    )
    print(f"copied {checkpoint} ({'adapter' if is_adapter(checkpoint) else 'merged weights'}) to {staging}")

    (staging / "README.md").write_text(model_card(cfg, checkpoint, report, fingerprint, scored))
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
    api.upload_folder(
        repo_id=cfg.repo_id,
        folder_path=str(staging),
        commit_message=cfg.commit_message,
        ignore_patterns=[STAGING_MARKER],
    )
    print(f"pushed {staging} to {url}")
    return staging


@hydra.main(config_path="../configs", config_name="publish", version_base="1.3")
def main(cfg: PublishConfig) -> None:
    with stage_errors(cfg, PublishConfig):
        publish(OmegaConf.to_object(cfg))


if __name__ == "__main__":
    run_stage(main)
