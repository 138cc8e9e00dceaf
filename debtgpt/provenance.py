"""Which model a collector is: a fingerprint of the weights it loads (a hash of the weight files and the id of
the training run that wrote them), so a report's numbers can be tied to one checkpoint and no other.

A retrained checkpoint in the same folder gets a new run id and new weights: its fingerprint no longer matches
a report made before, and `train/publish.py` refuses to put that report on its card.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

TRAIN_CARD = "train_card.json"  # written by train/checkpoints.py beside every final/ model
# Files that are not weights though their suffix says so: the trainer's pickled arguments.
NOT_WEIGHTS = ("training_args.bin",)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".safetensors.index.json", ".bin.index.json")


def train_card(folder: str | Path) -> dict:
    """The training card of a model folder, or {} when it was not trained by this project's train stages."""
    path = Path(folder) / TRAIN_CARD
    return json.loads(path.read_text()) if path.is_file() else {}


def weight_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES) and p.name not in NOT_WEIGHTS
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_fingerprint(folder: str | Path) -> dict:
    """{"weights_sha256", "train_run_id", "train_run"} of a local model or adapter folder. The hash covers every
    weight file by name and content, so the same weights copied elsewhere (publish's staging folder) match."""
    folder = Path(folder)
    files = weight_files(folder)
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0{_file_sha256(path)}\n".encode())
    card = train_card(folder)
    return {
        "weights_sha256": digest.hexdigest() if files else None,
        "train_run_id": card.get("run_id"),
        "train_run": card.get("config", {}).get("run"),
    }


def backend_fingerprint(settings: dict | None) -> dict | None:
    """The fingerprint of what a backend loads: its adapter folder when it has one (that is the trained part),
    else its model folder; a Hub name or a served model has no local weights and records its name only."""
    if not settings or settings.get("kind") not in ("hf", "vllm"):
        return None if not settings else {"model": settings.get("model"), "weights_sha256": None, "train_run_id": None}
    from debtgpt.tiny import TINY_NAME, default_tiny_dir

    model = settings.get("model", TINY_NAME)
    path = default_tiny_dir() if model == TINY_NAME else model
    found = {"model": str(path)}
    if settings.get("adapter"):
        found["adapter"] = str(settings["adapter"])
        path = settings["adapter"]
    if not Path(path).is_dir():
        return {**found, "weights_sha256": None, "train_run_id": None}
    return {**found, **model_fingerprint(path)}


def collector_fingerprint(name: str, configs_dir=None) -> dict | None:
    """The fingerprint of a named collector's main backend; None for a built-in (scripted) collector."""
    from debtgpt.agents.factory import DEFAULT_CONFIGS_DIR, load_spec, spec_files

    configs_dir = configs_dir or DEFAULT_CONFIGS_DIR
    if name not in spec_files("collector", configs_dir):
        return None
    return backend_fingerprint(load_spec("collector", name, configs_dir).backend)


def same_model(a: dict | None, b: dict | None) -> bool:
    """Two fingerprints name the same trained weights: equal weight hashes and equal run ids."""
    return bool(a and b and a.get("weights_sha256")) and all(
        a.get(k) == b.get(k) for k in ("weights_sha256", "train_run_id")
    )


def describe(fingerprint: dict | None) -> str:
    """A short, readable form of a fingerprint for a one-line message."""
    if not fingerprint:
        return "no fingerprint"
    weights = (fingerprint.get("weights_sha256") or "none")[:12]
    return f"weights {weights}, training run {fingerprint.get('train_run_id') or 'unknown'}"


def training_step(card: dict) -> dict:
    """One training run as a model's history records it: the method, the run, the data and how far it went."""
    config, data_card = card.get("config", {}), card.get("data_card", {}) or {}
    method = "dpo" if "beta" in config else "sft"
    data = (
        config.get("data")
        if method == "sft"
        else str(Path(config.get("pairs_dir", "?")) / data_card.get("set", f"dpo_{config.get('level')}"))
    )
    return {
        "method": method,
        "run": config.get("run"),
        "run_id": card.get("run_id"),
        "data": data,
        "model": config.get("init_from") or (config.get("model") or {}).get("name"),
        "data_rows": (data_card.get("overall") or {}).get("rows"),
        "examples": card.get("examples"),
        "global_step": card.get("global_step"),
        "learning_rate": config.get("learning_rate", config.get("lr")),  # cards before TRL's names say lr
        "command": card.get("command"),
        "data_card": data_card,
    }


def training_history(card: dict, init_path: str | None = None) -> list[dict]:
    """Every training run behind a model, oldest first: its starting model's history as that model's card
    recorded it when this run began, then this run. Written into the card at training time, so a starting
    model retrained later never changes what an earlier checkpoint says about itself."""
    before = train_card(init_path) if init_path and Path(init_path).is_dir() else {}
    earlier = before.get("history") or ([training_step(before)] if before else [])
    return [*earlier, training_step(card)]
