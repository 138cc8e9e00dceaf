"""Experiment tracking: the wandb run (online with a key, offline without) and the redaction of secrets from what
it logs."""

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


# WANDB_MODE values wandb itself accepts, and the mode each means here.
ENV_WANDB_MODES = {
    "online": "online",
    "run": "online",
    "offline": "offline",
    "dryrun": "offline",
    "disabled": "disabled",
}
DEFAULT_WANDB_URL = "https://api.wandb.ai"
# How long the server may take to answer before the run logs offline instead: a stage never waits on the network.
WANDB_PROBE_TIMEOUT_S = 5.0


def wandb_mode(cfg) -> str:
    """The mode a run logs in. WANDB_MODE in the environment is honoured: `disabled` or `offline` there is never
    overridden into the network; with wandb.mode=auto it decides, and otherwise a key (WANDB_API_KEY) means online."""
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    if env and env not in ENV_WANDB_MODES:
        raise ValueError(
            f"WANDB_MODE={env!r} in the environment is not allowed; allowed values: {', '.join(ENV_WANDB_MODES)}"
        )
    env = ENV_WANDB_MODES.get(env)
    configured = getattr(cfg.wandb.mode, "name", cfg.wandb.mode)
    if "disabled" in (env, configured):
        return "disabled"
    if configured == "auto":
        return env or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    return "offline" if env == "offline" else configured


def wandb_server_problem(timeout_s: float = WANDB_PROBE_TIMEOUT_S) -> str | None:
    """Why the wandb server (WANDB_BASE_URL) cannot be reached, or None when it answers (any HTTP status)."""
    import httpx

    url = os.environ.get("WANDB_BASE_URL", DEFAULT_WANDB_URL).rstrip("/")
    try:
        httpx.get(url + "/healthz", timeout=timeout_s)
    except httpx.HTTPError as error:
        return f"the wandb server at {url} cannot be reached ({type(error).__name__})"
    return None


def start_wandb(cfg, run_name: str, out_dir: Path, config: dict, data_card: dict) -> str:
    """Open the wandb run the trainer's callback then logs into; returns TRL's report_to.

    Online with no server to answer, the run logs offline with one warning line (sync it later), rather than
    waiting minutes and ending the stage in a traceback.
    """
    mode = wandb_mode(cfg)
    if mode == "disabled":
        return "none"
    if mode == "online" and int(os.environ.get("RANK", "0")) == 0 and (problem := wandb_server_problem()):
        mode = "offline"
        say(
            f"warning: {problem}; logging offline into {out_dir}/wandb "
            f"(upload later with `wandb sync {out_dir}/wandb/offline-run-*`; "
            "set WANDB_MODE=offline to skip this check)"
        )
    os.environ["WANDB_MODE"] = mode  # the trainer's callback reads it
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
