"""Experiment tracking: the wandb run (online with a key, offline without) and the redaction of secrets from what it logs."""
from __future__ import annotations

import os
from pathlib import Path

from train.console import say

# A config key or environment variable whose name holds one of these is a secret: never logged.
SECRET_MARKERS = ("token", "key", "secret", "password", "credential")


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


def finish_wandb(report_to: str) -> None:
    if report_to == "wandb":
        import wandb

        wandb.finish()
