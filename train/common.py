"""What SFT and DPO share: the model by name, measured token lengths, LoRA, precision, wandb, resume, final/.

Layout of a run (both stages): checkpoints/<run>/checkpoint-N/ while training (the newest is resumed from),
checkpoints/<run>/final/ at the end with the tokenizer and train_card.json. With LoRA, final/ holds merged
weights (final_weights=merged, a plain model any stage loads) or the adapter whose adapter_config.json names
its base (final_weights=adapter). A sweep point lives in checkpoints/<run>/<its overrides>/.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

DTYPES = ("auto", "float32", "bfloat16")
PRECISIONS = ("auto", "fp32", "bf16")
OVERLENGTH = ("fail", "drop")
FINAL_WEIGHTS = ("merged", "adapter")
WANDB_MODES = ("auto", "online", "offline", "disabled")
# A config key or environment variable whose name holds one of these is a secret: never logged.
SECRET_MARKERS = ("token", "key", "secret", "password", "credential")
CARD_NAME = "train_card.json"


def check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; allowed values: {', '.join(map(str, allowed))}")


def say(message: str) -> None:
    """One line per milestone, from the main process only (accelerate launches several)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(message, flush=True)


def check_run_config(cfg) -> None:
    """Fail at start-up, naming the field, before any model is loaded."""
    check_choice("model.dtype", cfg.model.dtype, DTYPES)
    check_choice("precision", cfg.precision, PRECISIONS)
    check_choice("overlength", cfg.overlength, OVERLENGTH)
    check_choice("final_weights", cfg.final_weights, FINAL_WEIGHTS)
    check_choice("wandb.mode", cfg.wandb.mode, WANDB_MODES)
    if cfg.max_length is not None and cfg.max_length < 16:
        raise ValueError(f"max_length={cfg.max_length} must be null (fit the longest example) or at least 16")
    if cfg.lr <= 0 or cfg.batch_size < 1 or cfg.grad_accum < 1:
        raise ValueError(f"lr={cfg.lr} must be > 0, batch_size={cfg.batch_size} and grad_accum={cfg.grad_accum} >= 1")
    from debtgpt.config import require_at_least

    require_at_least(1, save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit, logging_steps=cfg.logging_steps)
    if cfg.max_steps != -1:
        require_at_least(1, max_steps=cfg.max_steps)
    if cfg.epochs <= 0 or cfg.warmup < 0:
        raise ValueError(f"epochs={cfg.epochs} must be > 0 and warmup={cfg.warmup} >= 0")


def use_bf16(cfg) -> bool:
    """bf16 mixed precision only when asked for (or auto on a GPU that has it); fp32 on a CPU."""
    import torch

    gpu_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if cfg.precision == "bf16" and not gpu_bf16:
        raise ValueError("precision=bf16 needs a CUDA GPU with bf16 support; use precision=fp32 or precision=auto here")
    if cfg.precision == "auto":
        return gpu_bf16 and cfg.model.dtype != "float32"
    return cfg.precision == "bf16"


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def load_tokenizer(path: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(path: str, model_cfg):
    """A causal LM from a folder or Hub name; an adapter folder is merged into the base it names."""
    import torch
    from transformers import AutoModelForCausalLM

    # Mixed precision keeps fp32 master weights; only an explicit dtype (a 7B model) loads lower.
    dtype = torch.float32 if model_cfg.dtype == "auto" else getattr(torch, model_cfg.dtype)
    options = dict(dtype=dtype, attn_implementation=model_cfg.attn_implementation, trust_remote_code=model_cfg.trust_remote_code)
    adapter_config = Path(path) / "adapter_config.json"
    if not adapter_config.is_file():
        return AutoModelForCausalLM.from_pretrained(path, **options)
    from peft import PeftModel

    base = json.loads(adapter_config.read_text())["base_model_name_or_path"]
    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, **options), path).merge_and_unload()


def lora_config(lora_cfg):
    """A PEFT LoRA config, or None for full fine-tuning."""
    if not lora_cfg.enabled:
        return None
    from peft import LoraConfig

    if lora_cfg.r < 1 or lora_cfg.alpha < 1:
        raise ValueError(f"lora.r={lora_cfg.r} and lora.alpha={lora_cfg.alpha} must be >= 1")
    return LoraConfig(
        r=lora_cfg.r,
        lora_alpha=lora_cfg.alpha,
        lora_dropout=lora_cfg.dropout,
        target_modules=lora_cfg.target_modules,
        task_type="CAUSAL_LM",
    )


def load_dataset_folder(path: str | Path):
    """A dataset written by data_gen (save_to_disk), or a parquet file/folder of the same rows."""
    from datasets import load_dataset, load_from_disk

    path = Path(path)
    if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
        return load_from_disk(str(path))
    parquet = [str(path)] if path.suffix == ".parquet" else sorted(map(str, path.glob("*.parquet")))
    if not parquet:
        raise FileNotFoundError(f"no dataset at {path} (neither save_to_disk output nor parquet files); run `make pairs` first")
    return load_dataset("parquet", data_files=parquet, split="train")


def dataset_card(path: str | Path) -> dict:
    """The card.json the data stage wrote beside a dataset (counts, config, command), or {}."""
    card = Path(path) / "card.json"
    return json.loads(card.read_text()) if card.is_file() else {}


def chat_length(tokenizer, messages: list[dict]) -> int:
    # transformers 5 returns a BatchEncoding with return_dict=True; count the ids, as TRL will
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])


def sft_lengths(tokenizer, dataset) -> list[int]:
    return [chat_length(tokenizer, messages) for messages in dataset["messages"]]


def pair_lengths(tokenizer, dataset) -> list[int]:
    """Prompt plus the longer completion: what DPO puts in one sequence."""
    return [
        max(chat_length(tokenizer, prompt + chosen), chat_length(tokenizer, prompt + rejected))
        for prompt, chosen, rejected in zip(dataset["prompt"], dataset["chosen"], dataset["rejected"])
    ]


def fit_max_length(lengths: list[int], cap: int | None, overlength: str, context: int | None, what: str) -> tuple[int, list[int]]:
    """The max_length to train with and the indices of the examples kept.

    A dialogue's outcome is at its end, so nothing is truncated: with no cap the longest example sets
    max_length; with a cap, longer examples fail the run (overlength=fail) or are dropped with a count.
    """
    if not lengths:
        raise ValueError(f"the {what} dataset is empty")
    ordered = sorted(lengths)
    longest, median = ordered[-1], ordered[len(ordered) // 2]
    say(f"token lengths of {len(lengths)} {what}: median {median}, p95 {ordered[int(0.95 * (len(ordered) - 1))]}, longest {longest}")
    limit = longest if cap is None else cap
    if context is not None and limit > context:
        raise ValueError(
            f"max_length={limit} (longest {what} example: {longest} tokens) exceeds the model's context of {context}; "
            f"set max_length <= {context} with overlength=drop, or use a model with a longer context"
        )
    over = [i for i, n in enumerate(lengths) if n > limit]
    if over and overlength == "fail":
        raise ValueError(
            f"{len(over)} of {len(lengths)} {what} examples are longer than max_length={limit} (longest {longest} tokens) "
            "and would lose their end; set max_length=null to fit them all, raise max_length, or set overlength=drop"
        )
    if over:
        say(f"dropped {len(over)} of {len(lengths)} {what} examples longer than max_length={limit} (overlength=drop)")
    dropped = set(over)
    return limit, [i for i in range(len(lengths)) if i not in dropped]


def last_checkpoint(out_dir: str | Path) -> str | None:
    """The newest complete checkpoint-N/ of a run (one killed mid-save has no trainer_state.json)."""
    out_dir = Path(out_dir)
    found = [p for p in out_dir.glob("checkpoint-*") if re.fullmatch(r"checkpoint-\d+", p.name) and (p / "trainer_state.json").is_file()]
    return str(max(found, key=lambda p: int(p.name.split("-")[1]))) if found else None


def is_secret_name(name: str) -> bool:
    return any(marker in name.lower() for marker in SECRET_MARKERS)


def redact(value, secrets: set[str] | None = None):
    """A config without secret-named keys or values equal to a secret environment variable."""
    if secrets is None:
        secrets = {v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= 8}
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items() if not is_secret_name(str(k))}
    if isinstance(value, (list, tuple)):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str) and any(secret in value for secret in secrets):
        return "<redacted>"
    return value


def numbers(card: dict, prefix: str) -> dict:
    """The numeric leaves of a nested card as flat keys: data/by_archetype/Avoidant/reward/mean."""
    flat = {}
    for key, value in card.items():
        name = f"{prefix}/{key}"
        if isinstance(value, dict):
            flat.update(numbers(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = value
    return flat


def wandb_mode(cfg) -> str:
    if os.environ.get("WANDB_MODE") == "disabled" or cfg.wandb.mode == "disabled":
        return "disabled"
    if cfg.wandb.mode == "auto":
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"
    return cfg.wandb.mode


def start_wandb(cfg, run_name: str, out_dir: Path, config: dict, data_card: dict) -> str:
    """Open the wandb run the trainer's callback then logs into; returns TRL's report_to."""
    mode = wandb_mode(cfg)
    if mode == "disabled":
        return "none"
    os.environ["WANDB_MODE"] = mode
    if int(os.environ.get("RANK", "0")) == 0:  # the trainer's callback logs from the main process only
        import wandb

        wandb.init(
            project=cfg.wandb.project,
            entity=cfg.wandb.entity,
            name=run_name,
            dir=str(out_dir),
            mode=mode,
            config=redact({**config, "data_card": data_card}),
        )
        wandb.run.summary.update(numbers(data_card, "data"))  # rollout and pair statistics, per archetype too
    say(f"wandb: {mode} (project {cfg.wandb.project})")
    return "wandb"


def trainer_arguments(cfg, out_dir: Path, max_length: int, report_to: str, typed: dict) -> dict:
    """Keyword arguments of SFTConfig/DPOConfig: our typed fields, then the trl pass-through dict."""
    arguments = dict(
        output_dir=str(out_dir),
        run_name=cfg.run,
        learning_rate=cfg.lr,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=cfg.warmup,
        max_length=max_length,
        bf16=use_bf16(cfg),
        dataloader_pin_memory=_has_cuda(),  # pinning is for host-to-GPU copies
        gradient_checkpointing=cfg.model.gradient_checkpointing,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        seed=cfg.seed,
        report_to=report_to,
        **typed,
    )
    # a key our typed fields set must be changed there, so a sweep and the logged config see it
    overlap = sorted(set(cfg.trl) & (set(arguments) - {"save_strategy", "dataloader_pin_memory"}))
    if overlap:
        raise ValueError(f"trl.{overlap[0]} is set by a typed field of this config; set it there, not in trl (typed: {', '.join(overlap)})")
    return {**arguments, **cfg.trl}


def save_final(trainer, tokenizer, cfg, init_path: str, out_dir: Path, card: dict) -> Path:
    """final/: the model (merged or adapter), the tokenizer and a card; written beside and renamed."""
    final, staging = out_dir / "final", out_dir / "final.partial"
    if trainer.is_world_process_zero() and staging.exists():
        shutil.rmtree(staging)  # left by a run killed while saving
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))  # gathers sharded weights (FSDP, ZeRO-3); writes the adapter alone with LoRA
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(staging))
        if cfg.lora.enabled and cfg.final_weights == "merged":
            from peft import PeftModel

            merged = PeftModel.from_pretrained(load_model(init_path, cfg.model), str(staging)).merge_and_unload()
            for name in ("adapter_model.safetensors", "adapter_config.json"):
                (staging / name).unlink(missing_ok=True)
            merged.save_pretrained(str(staging))
        (staging / CARD_NAME).write_text(json.dumps(redact(card), indent=2, sort_keys=True, default=str) + "\n")
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    trainer.accelerator.wait_for_everyone()
    return final


def run_card(cfg_dict: dict, data_card: dict, max_length: int, n_examples: int, trainer) -> dict:
    from debtgpt.io import command_line, package_versions

    return {
        "config": cfg_dict,
        "command": command_line(),
        "versions": package_versions(),
        "data_card": data_card,
        "max_length": max_length,
        "examples": n_examples,
        "global_step": trainer.state.global_step,
        "log_history": trainer.state.log_history,
    }


# Settings a run may resume under new values of: bookkeeping, and its length (max_steps, epochs: a longer
# run continues the same training; the card's global_step says how far it went).
RESUMABLE_SETTINGS = ("resume", "logging_steps", "save_steps", "save_total_limit", "wandb", "checkpoints_dir", "run",
                      "max_steps", "epochs")
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
        return [c for k in sorted(set(before) | set(after), key=str) for c in _changes(before.get(k), after.get(k), f"{prefix}{k}.")]
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
            say(f"settings changed ({'; '.join(changed[:5])}); resume=false: old checkpoints removed, training from step 0")
    if int(os.environ.get("RANK", "0")) == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2, sort_keys=True, default=str) + "\n")


def train_and_save(trainer, tokenizer, cfg, init_path: str, out_dir: Path, config: dict, data_card: dict,
                   max_length: int, examples: int, report_to: str) -> dict:
    """Train (from the newest checkpoint of an interrupted run when cfg.resume), save final/, close wandb."""
    check_run_settings(out_dir, run_settings(config, data_card, trainer, init_path), cfg.resume)
    trainer.accelerator.wait_for_everyone()
    resume = last_checkpoint(out_dir) if cfg.resume else None
    say(f"resuming from {resume}" if resume else f"training from step 0 into {out_dir}")
    result = trainer.train(resume_from_checkpoint=resume)
    say(f"trained to step {trainer.state.global_step}: loss {result.training_loss:.4f}")

    final = save_final(trainer, tokenizer, cfg, init_path, out_dir, run_card(config, data_card, max_length, examples, trainer))
    say(f"saved {final}")
    if report_to == "wandb":
        import wandb

        wandb.finish()
    return {
        "final": str(final), "resumed_from": resume, "global_step": trainer.state.global_step, "max_length": max_length,
        "examples": examples, "metrics": result.metrics, "trainer": trainer,
    }
