"""Supervised fine-tuning of the collector on the best dialogues, with the loss on the collector's turns only.

    python -m train.sft                                        # tiny model, data/pairs/sft -> checkpoints/sft-tiny/
    python -m train.sft model=qwen2.5-0.5b lora.enabled=true learning_rate=2e-4 run=sft-qwen
    python -m train.sft -m learning_rate=1e-4,3e-4 run=sft-sweep    # checkpoints/sft-sweep/learning_rate=0.0001/ ...
    accelerate launch --config_file configs/accelerate/multi_gpu_ddp.yaml -m train.sft model=qwen2.5-7b-instruct

max_length: null (the default) measures every dialogue with the chat template and trains at the longest, so
nothing is cut; a set max_length that some dialogue exceeds fails the run (overlength=fail) or drops those
dialogues with a printed count (overlength=drop). A rerun of an interrupted run resumes from its newest
checkpoint-N/. The result is checkpoints/<run>/final/ (see train/checkpoints.py for merged vs adapter).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from pipeline.cli import run_stage, skip_unused_imports, stage_errors
from pipeline.config import SFTRunConfig, register_configs
from train.tracking import wandb_mode

register_configs()


def train_sft(cfg: SFTRunConfig, out_dir: str | Path) -> dict:
    """The recipe: the trainer (sft_trainer), train (or resume), save final/."""
    from train.checkpoints import train_and_save

    trainer, saving = sft_trainer(cfg, out_dir)
    return train_and_save(trainer, **saving)


def sft_trainer(cfg: SFTRunConfig, out_dir: str | Path):
    """Data, lengths, trainer config, model and trainer, ready to train; with train_and_save's other arguments."""
    from trl import SFTConfig, SFTTrainer

    from debtgpt.tiny import resolve_model
    from train.console import say
    from train.data import dataset_card, fit_max_length, load_dataset_folder, sft_lengths
    from train.lm_head import use_lm_head
    from train.model_loading import load_model, load_tokenizer, lora_config, model_context, parameter_count
    from train.tracking import start_wandb
    from train.trainer_config import check_run_config, trainer_arguments

    check_run_config(cfg)
    out_dir = Path(out_dir)
    model_path = resolve_model(cfg.model.name)
    tokenizer = load_tokenizer(model_path, cfg.model.trust_remote_code)

    dataset = load_dataset_folder(cfg.data)
    if "messages" not in dataset.column_names:
        raise ValueError(
            f"data={cfg.data} has columns {dataset.column_names}; SFT needs a conversational `messages` column"
        )
    say(f"loaded {len(dataset)} SFT dialogues from {cfg.data}")

    context = model_context(model_path, cfg.model)
    max_length, kept = fit_max_length(sft_lengths(tokenizer, dataset), cfg.max_length, cfg.overlength, context, "SFT")
    dataset = dataset.select(kept).select_columns(["messages"])

    config = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    data_card = dataset_card(cfg.data)
    report_to = start_wandb(cfg, cfg.run, out_dir, config, data_card)
    # before the model loads (see train/trainer_config.py); assistant_only_loss: the debtor's words are context
    args = SFTConfig(**trainer_arguments(cfg, out_dir, max_length, report_to, dict(assistant_only_loss=True)))

    model = load_model(model_path, cfg.model)
    say(
        f"loaded model {cfg.model.name} ({parameter_count(model) / 1e6:.1f}M parameters)"
        f"; {'LoRA r=%d' % cfg.lora.r if cfg.lora.enabled else 'full fine-tuning'}; max_length={max_length}"
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora_config(cfg.lora)
    )
    say(f"LM head: {use_lm_head(trainer, cfg.lm_head, cfg.shared_prefix)} (lm_head={cfg.lm_head})")

    return trainer, dict(
        tokenizer=tokenizer,
        cfg=cfg,
        init_path=model_path,
        out_dir=out_dir,
        config=config,
        data_card=data_card,
        max_length=max_length,
        examples=len(dataset),
        report_to=report_to,
    )


@hydra.main(config_path="../configs", config_name="sft", version_base="1.3")
def main(cfg: SFTRunConfig) -> None:
    with stage_errors(cfg, SFTRunConfig):
        skip_unused_imports(wandb_used=wandb_mode(cfg) != "disabled")
        train_sft(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    run_stage(main)
