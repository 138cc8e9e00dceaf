"""DPO of the SFT collector on the rejection-sampled preference pairs, LoRA on the SFT model.

    python -m train.dpo                                    # the recipe: acceptance pairs of data/pairs-sft, the loss
                                                           # cut to the decision, checkpoints/sft-tiny/final ->
                                                           # checkpoints/dpo-tiny/
    python -m train.dpo level=turn pairs_dir=data/pairs decision_tokens=null run=dpo-turn   # turn-level pairs
    python -m train.dpo level=dialogue pairs_dir=data/pairs decision_tokens=null beta=0.2 run=dpo-dialogue
    python -m train.dpo -m beta=0.05,0.1,0.3 run=dpo-beta  # a sweep of the DPO temperature

The reference model is the SFT model itself with the LoRA adapters switched off (peft_config given,
ref_model=None): no second copy in memory. Only the collector's tokens enter the loss (mask_debtor_turns,
train/collector_turns.py): a dialogue-level completion holds the debtor's replies too, and TRL would count
them. Lengths are measured as in train.sft (prompt plus the longer completion): max_length=null fits the
longest pair; a cap fails or drops (overlength). Resume and the checkpoints/<run>/final/ layout are those of
train.sft.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from pipeline.cli import run_stage, skip_unused_imports, stage_errors
from pipeline.config import DPORunConfig, register_configs, require_at_least
from train.tracking import wandb_mode

register_configs()

PAIR_LEVELS = {"turn": "dpo_turn", "dialogue": "dpo_dialogue", "accept": "dpo_accept"}
PAIR_COLUMNS = ["prompt", "chosen", "rejected"]


def train_dpo(cfg: DPORunConfig, out_dir: str | Path) -> dict:
    """The recipe: the trainer (dpo_trainer), train (or resume), save final/ and the preference curves."""
    from train.checkpoints import train_and_save

    trainer, saving = dpo_trainer(cfg, out_dir)
    result = train_and_save(trainer, **saving)
    write_curves(trainer.state.log_history, saving["out_dir"])
    return result


def dpo_trainer(cfg: DPORunConfig, out_dir: str | Path):
    """Pairs, lengths, trainer config, the SFT model with LoRA and the trainer, ready to train; with
    train_and_save's other arguments."""
    from trl import DPOConfig, DPOTrainer

    from train.console import say
    from train.data import dataset_card, fit_max_length, load_dataset_folder, pair_lengths
    from train.lm_head import use_lm_head
    from train.model_loading import load_model, load_tokenizer, lora_config, model_context, parameter_count
    from train.tracking import start_wandb
    from train.trainer_config import check_run_config, trainer_arguments

    check_run_config(cfg)
    decision_tokens = check_decision_tokens(cfg)
    if cfg.eval_steps is not None:
        require_at_least(1, eval_steps=cfg.eval_steps)
    if cfg.sft_weight < 0 or not 0 <= cfg.heldout_fraction < 1:
        raise ValueError(
            f"sft_weight={cfg.sft_weight} must be >= 0 and heldout_fraction={cfg.heldout_fraction} in [0, 1)"
        )
    if not cfg.lora.enabled:
        say("lora.enabled=false: full DPO, TRL loads a second copy of the SFT model as the reference")
    out_dir = Path(out_dir)
    init_from = Path(cfg.init_from)
    if not (init_from / "config.json").is_file() and not (init_from / "adapter_config.json").is_file():
        raise FileNotFoundError(f"init_from={cfg.init_from} holds no model; train the SFT model first (`make sft`)")
    tokenizer = load_tokenizer(str(init_from), cfg.model.trust_remote_code)

    data = Path(cfg.pairs_dir) / PAIR_LEVELS[cfg.level]
    dataset = load_dataset_folder(data)
    missing = [c for c in PAIR_COLUMNS if c not in dataset.column_names]
    if missing:
        raise ValueError(f"{data} lacks column(s) {missing}; DPO needs conversational {', '.join(PAIR_COLUMNS)}")
    say(f"loaded {len(dataset)} {cfg.level}-level pairs from {data}")

    context = model_context(str(init_from), cfg.model)
    max_length, kept = fit_max_length(
        pair_lengths(tokenizer, dataset), cfg.max_length, cfg.overlength, context, f"{cfg.level}-level pair"
    )
    dataset = dataset.select(kept)
    train_set, heldout = split_heldout(dataset, cfg.heldout_fraction, cfg.seed)
    say(
        f"{len(train_set)} pairs to train on, {len(heldout)} held out (whole scenarios) to measure preference accuracy"
    )
    train_set = train_set.select_columns(PAIR_COLUMNS)  # score columns stay in the data, not in the batches

    config = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    data_card = dataset_card(data)
    report_to = start_wandb(cfg, cfg.run, out_dir, config, data_card)
    losses = (
        dict(loss_type=[cfg.loss_type, "sft"], loss_weights=[1.0, cfg.sft_weight])
        if cfg.sft_weight
        else dict(loss_type=[cfg.loss_type])
    )
    typed = dict(beta=cfg.beta, precompute_ref_log_probs=cfg.precompute_ref_log_probs, **losses)
    if len(heldout):
        typed.update(
            eval_strategy="steps",
            eval_steps=cfg.eval_steps or cfg.logging_steps,
            per_device_eval_batch_size=cfg.per_device_train_batch_size,
        )
    args = DPOConfig(**trainer_arguments(cfg, out_dir, max_length, report_to, typed))  # before the model loads

    model = load_model(str(init_from), cfg.model)
    say(
        f"loaded SFT model {init_from} ({parameter_count(model) / 1e6:.1f}M parameters); "
        f"beta={cfg.beta} loss={cfg.loss_type} max_length={max_length}"
    )
    trainer_class, collator = DPOTrainer, None
    masks = {}
    if cfg.mask_debtor_turns or decision_tokens is not None:
        from train.collector_turns import CollectorTurnsDPOTrainer, collector_turns_collator

        trainer_class, collator = CollectorTurnsDPOTrainer, collector_turns_collator(model, tokenizer, args)
        masks = dict(
            mask_debtor=cfg.mask_debtor_turns,
            decision_tokens=decision_tokens,
            lm_head=cfg.lm_head,
            shared_prefix=cfg.shared_prefix,
        )
    trainer = trainer_class(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=train_set,
        processing_class=tokenizer,
        eval_dataset=heldout.select_columns(PAIR_COLUMNS) if len(heldout) else None,
        peft_config=lora_config(cfg.lora),
        data_collator=collator,
        **masks,
    )
    # TRL's own trainer gets the batch's common start run once; ours also each pair's prompt (train/collector_turns.py)
    head = (
        use_lm_head(trainer, cfg.lm_head, cfg.shared_prefix) if trainer_class is DPOTrainer else trainer.use_lm_head()
    )
    say(
        f"reference: {'the SFT model with adapters off' if trainer.ref_model is None else 'a separate copy'}; "
        f"LM head: {head} (lm_head={cfg.lm_head})"
    )

    return trainer, dict(
        tokenizer=tokenizer,
        cfg=cfg,
        init_path=str(init_from),
        out_dir=out_dir,
        config=config,
        data_card=data_card,
        max_length=max_length,
        examples=len(train_set),
        report_to=report_to,
    )


def check_decision_tokens(cfg: DPORunConfig) -> list[int] | None:
    """decision_tokens as a list of two counts, or None; a dialogue-level pair parts at its first collector turn
    and goes on for many turns, so the cut is for one-turn completions only."""
    if cfg.decision_tokens is None:
        return None
    counts = list(cfg.decision_tokens)
    if len(counts) != 2 or min(counts) < 0 or max(counts) == 0:
        raise ValueError(f"decision_tokens={counts} must be [chosen, rejected]: two token counts >= 0, not both 0")
    if cfg.level == "dialogue":
        raise ValueError("decision_tokens needs one-turn completions: level=turn or level=accept, not level=dialogue")
    return counts


def split_heldout(dataset, fraction: float, seed: int):
    """(train, held-out) with whole scenarios held out, so no held-out pair shares a dialogue with a trained one."""
    import hashlib

    def held(scenario_id: str) -> bool:
        return int(hashlib.sha256(f"{seed}/{scenario_id}".encode()).hexdigest()[:8], 16) / 2**32 < fraction

    if fraction == 0:
        return dataset, dataset.select([])
    if "scenario_id" not in dataset.column_names:
        raise ValueError(
            f"heldout_fraction={fraction} needs a scenario_id column in the pairs (written by `make pairs`); "
            "pass heldout_fraction=0 for pairs without one"
        )
    flags = [held(s) for s in dataset["scenario_id"]]
    return (
        dataset.select([i for i, f in enumerate(flags) if not f]),
        dataset.select([i for i, f in enumerate(flags) if f]),
    )


CURVES = ("rewards/accuracies", "rewards/margins")


def write_curves(log_history: list[dict], out_dir: Path) -> None:
    """curves.json and curves.png: preference accuracy and margin on the training and the held-out pairs."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {
        f"{side}{name}": [(row["step"], row[f"{side}{name}"]) for row in log_history if f"{side}{name}" in row]
        for name in CURVES
        for side in ("", "eval_")
    }
    (out_dir / "curves.json").write_text(json.dumps(curves, indent=1) + "\n")
    fig, axes = plt.subplots(1, len(CURVES), figsize=(10, 3.5))
    for ax, name in zip(axes, CURVES):
        for side, label in (("", "training pairs"), ("eval_", "held-out pairs")):
            points = curves[f"{side}{name}"]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=label)
        if name == "rewards/accuracies":
            ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "curves.png", dpi=110)
    plt.close(fig)


@hydra.main(config_path="../configs", config_name="dpo", version_base="1.3")
def main(cfg: DPORunConfig) -> None:
    with stage_errors(cfg, DPORunConfig):
        skip_unused_imports(wandb_used=wandb_mode(cfg) != "disabled")
        train_dpo(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    run_stage(main)
