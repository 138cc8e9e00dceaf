"""Our typed run config (pipeline.config.TrainRunConfig) turned into TRL's: start-up checks, precision, arguments.

Build the TRL config (SFTConfig/DPOConfig) before the model loads: constructing it sets up the distributed
state, which ZeRO-3's partitioned init and FSDP's cpu-RAM-efficient loading need at `from_pretrained` time.
"""

from __future__ import annotations

from pathlib import Path

from debtgpt.checks import require_at_least


def check_run_config(cfg) -> None:
    """Fail at start-up, naming the field, before any model is loaded (choice fields are checked by the schema)."""
    if cfg.max_length is not None and cfg.max_length < 16:
        raise ValueError(f"max_length={cfg.max_length} must be null (fit the longest example) or at least 16")
    if cfg.learning_rate <= 0:
        raise ValueError(f"learning_rate={cfg.learning_rate} must be > 0")
    require_at_least(
        1,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
    )
    require_at_least(
        1, save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit, logging_steps=cfg.logging_steps
    )
    if cfg.max_steps != -1:
        require_at_least(1, max_steps=cfg.max_steps)
    if cfg.num_train_epochs <= 0 or cfg.warmup_steps < 0:
        raise ValueError(
            f"num_train_epochs={cfg.num_train_epochs} must be > 0 and warmup_steps={cfg.warmup_steps} >= 0"
        )


def _gpu_has_bf16() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def use_bf16(cfg) -> bool:
    """bf16 mixed precision only when asked for (or auto on a GPU that has it); fp32 on a CPU."""
    gpu_bf16 = _gpu_has_bf16()
    if cfg.precision == "bf16" and not gpu_bf16:
        raise ValueError(
            "precision=bf16 needs a CUDA GPU with bf16 support; use precision=fp32 or precision=auto here"
        )
    if cfg.precision == "auto":
        return gpu_bf16 and cfg.model.dtype != "float32"
    return cfg.precision == "bf16"


def training_dtype(cfg) -> str:
    """The dtype the run trains in, and so the one final/ is saved in: an explicit model.dtype, else bf16
    under bf16 mixed precision (the fp32 master weights are an optimizer detail), else fp32."""
    if cfg.model.dtype != "auto":
        return cfg.model.dtype
    return "bfloat16" if use_bf16(cfg) else "float32"


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def trainer_arguments(cfg, out_dir: Path, max_length: int, report_to: str, typed: dict) -> dict:
    """Keyword arguments of SFTConfig/DPOConfig: our typed fields, then the trl pass-through dict."""
    arguments = dict(
        output_dir=str(out_dir),
        run_name=cfg.run,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        warmup_steps=cfg.warmup_steps,
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
        raise ValueError(
            f"trl.{overlap[0]} is set by a typed field of this config; set it there, not in trl "
            f"(typed: {', '.join(overlap)})"
        )
    return {**arguments, **cfg.trl}
