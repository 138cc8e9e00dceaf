"""A run's folders and its resume: checkpoint-N/ while training, final/ at the end.

Layout of a run (both stages): checkpoints/<run>/checkpoint-N/ while training (the newest is resumed from),
checkpoints/<run>/final/ at the end with the tokenizer and train_card.json. With LoRA, final/ holds merged
weights (final_weights=merged, a plain model any stage loads) or the adapter whose adapter_config.json names
its base (final_weights=adapter). A sweep point lives in checkpoints/<run>/<its overrides>/.

final/ holds the weights in the training dtype (train.trainer_config.training_dtype: bf16 on a GPU that has it),
and config.json says so, so an evaluation that loads it with dtype=auto runs in that dtype too. An adapter
stays as PEFT saved it: it is merged into its base, in the base's dtype, when loaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from transformers import TrainerCallback

from debtgpt.provenance import TRAIN_CARD, training_history
from pipeline.cli import say_startup
from train.console import say
from train.model_loading import load_model
from train.tracking import finish_wandb, redact
from train.trainer_config import training_dtype

CARD_NAME = TRAIN_CARD


def last_checkpoint(out_dir: str | Path) -> str | None:
    """The newest complete checkpoint-N/ of a run (one killed mid-save has no trainer_state.json)."""
    out_dir = Path(out_dir)
    found = [
        p
        for p in out_dir.glob("checkpoint-*")
        if re.fullmatch(r"checkpoint-\d+", p.name) and (p / "trainer_state.json").is_file()
    ]
    return str(max(found, key=lambda p: int(p.name.split("-")[1]))) if found else None


def recast_weights(folder: Path, dtype: str, trust_remote_code: bool = False) -> None:
    """Rewrite the model saved in `folder` in `dtype`: its weight files and the dtype its config.json records."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code
    )
    for old in [
        *folder.glob("model*.safetensors"),
        *folder.glob("model.safetensors.index.json"),
        *folder.glob("pytorch_model*.bin"),
    ]:
        old.unlink()  # a sharded fp32 save and a single bf16 file must not both be left
    model.save_pretrained(str(folder))


def save_final(trainer, tokenizer, cfg, init_path: str, out_dir: Path, card: dict) -> Path:
    """final/: the model (merged or adapter), the tokenizer and a card; written beside and renamed."""
    final, staging = out_dir / "final", out_dir / "final.partial"
    if trainer.is_world_process_zero() and staging.exists():
        shutil.rmtree(staging)  # left by a run killed while saving
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))  # gathers sharded weights (FSDP, ZeRO-3); writes the adapter alone with LoRA
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(staging))
        dtype = training_dtype(cfg)
        if cfg.lora.enabled and cfg.final_weights == "merged":
            import torch
            from peft import PeftModel

            merged = PeftModel.from_pretrained(load_model(init_path, cfg.model), str(staging)).merge_and_unload()
            for name in ("adapter_model.safetensors", "adapter_config.json"):
                (staging / name).unlink(missing_ok=True)
            merged.to(getattr(torch, dtype)).save_pretrained(str(staging))
        elif not cfg.lora.enabled and dtype != "float32":
            # mixed precision trains fp32 master weights; FSDP gathers them as they are
            recast_weights(staging, dtype, cfg.model.trust_remote_code)
        (staging / CARD_NAME).write_text(json.dumps(redact(card), indent=2, sort_keys=True, default=str) + "\n")
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    trainer.accelerator.wait_for_everyone()
    return final


def new_run_id() -> str:
    """A training run's own id: the same run name retrained into the same folder still gets a new one."""
    import secrets
    import time

    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"


def run_card(cfg_dict: dict, data_card: dict, max_length: int, n_examples: int, trainer) -> dict:
    from debtgpt.io import command_line, package_versions

    return {
        # with the weights' hash, what eval and publish tie a report to (debtgpt/provenance.py)
        "run_id": new_run_id(),
        "config": cfg_dict,
        "command": command_line(),
        "versions": package_versions(),
        "data_card": data_card,
        "max_length": max_length,
        "examples": n_examples,
        "global_step": trainer.state.global_step,
        "log_history": trainer.state.log_history,
    }


# Settings a run may resume under new values of: bookkeeping, and its length (max_steps, num_train_epochs: a longer
# run continues the same training; the card's global_step says how far it went).
RESUMABLE_SETTINGS = (
    "resume",
    "logging_steps",
    "eval_steps",
    "save_steps",
    "save_total_limit",
    "wandb",
    "checkpoints_dir",
    "run",
    "max_steps",
    "num_train_epochs",
)
SETTINGS_FILE = "run_settings.json"


def _files_digest(path: str) -> str | None:
    """Names, sizes and modification times of a local model folder: a retrained starting model changes it."""
    import hashlib

    folder = Path(path)
    if not folder.is_dir():
        return None
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


def run_settings(config: dict, data_card: dict, trainer, init_path: str) -> dict:
    """What a run's result depends on: its config (less RESUMABLE_SETTINGS), its data and its starting model."""
    import hashlib

    return {
        "config": {k: v for k, v in config.items() if k not in RESUMABLE_SETTINGS},
        "data_card": hashlib.sha256(json.dumps(data_card, sort_keys=True, default=str).encode()).hexdigest()[:16],
        "data_fingerprint": getattr(trainer.train_dataset, "_fingerprint", None),
        "init_model": _files_digest(init_path),
    }


def _changes(before, after, prefix: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            c
            for k in sorted(set(before) | set(after), key=str)
            for c in _changes(before.get(k), after.get(k), f"{prefix}{k}.")
        ]
    return [] if before == after else [f"{prefix.rstrip('.')}: {before!r} -> {after!r}"]


def check_run_settings(out_dir: Path, settings: dict, resume: bool) -> None:
    """A run folder whose output was made with other settings is never resumed: with resume=true this fails
    naming what changed; resume=false trains from step 0 and drops the old checkpoints. Then the settings are kept."""
    path = out_dir / SETTINGS_FILE
    before = json.loads(path.read_text()) if path.is_file() else None
    has_output = last_checkpoint(out_dir) is not None or (out_dir / "final").is_dir()
    changed = _changes(before, settings) if before is not None else (["(settings not recorded)"] if has_output else [])
    if changed and has_output:
        if resume:
            raise ValueError(
                f"{out_dir} holds a run made with other settings ({'; '.join(changed[:5])}); use another run=NAME, "
                "or pass resume=false to train from step 0 and discard its checkpoints"
            )
        if int(os.environ.get("RANK", "0")) == 0:
            for old in out_dir.glob("checkpoint-*"):
                if re.fullmatch(r"checkpoint-\d+", old.name):
                    shutil.rmtree(old)
            say(
                f"settings changed ({'; '.join(changed[:5])}); "
                "resume=false: old checkpoints removed, training from step 0"
            )
    if int(os.environ.get("RANK", "0")) == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2, sort_keys=True, default=str) + "\n")


class FirstStepTime(TrainerCallback):
    """Logs the start-up: the time from the process start to the first training step (libraries, data, model)."""

    def on_step_begin(self, args, state, control, **kwargs):
        if not getattr(self, "_said", False):
            self._said = True
            say_startup(f"the first training step (step {state.global_step + 1})")


def train_and_save(
    trainer,
    tokenizer,
    cfg,
    init_path: str,
    out_dir: Path,
    config: dict,
    data_card: dict,
    max_length: int,
    examples: int,
    report_to: str,
) -> dict:
    """Train (from the newest checkpoint of an interrupted run when cfg.resume), save final/, close wandb."""
    check_run_settings(out_dir, run_settings(config, data_card, trainer, init_path), cfg.resume)
    from train.preemption import PreemptionCheckpoint

    trainer.add_callback(PreemptionCheckpoint())  # under a scheduler, preemption saves this step's checkpoint first
    trainer.add_callback(FirstStepTime())
    trainer.accelerator.wait_for_everyone()
    resume = last_checkpoint(out_dir) if cfg.resume else None
    say(f"resuming from {resume}" if resume else f"training from step 0 into {out_dir}")
    result = trainer.train(resume_from_checkpoint=resume)
    say(f"trained to step {trainer.state.global_step}: loss {result.training_loss:.4f}")

    card = run_card(config, data_card, max_length, examples, trainer)
    card["history"] = training_history(card, init_path)  # what the model card tells (train/publish.py)
    final = save_final(trainer, tokenizer, cfg, init_path, out_dir, card)
    say(f"saved {final}")
    finish_wandb(report_to)
    return {
        "final": str(final),
        "resumed_from": resume,
        "global_step": trainer.state.global_step,
        "max_length": max_length,
        "examples": examples,
        "metrics": result.metrics,
        "trainer": trainer,
    }
