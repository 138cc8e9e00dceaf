"""Rollout shards: fixed-size chunks of the job list, each written atomically once all its dialogues finished.

A shard is the unit of resuming: on restart, a shard whose file holds exactly its expected keys in order and
still has the checksum recorded when it was written is kept, anything else is run again. `plan.json` pins
what the shards are shards of (collector, debtor, seed, scenarios, sizes), so a rerun with a different plan
cannot mix two runs' dialogues in one folder, and it keeps each written shard's checksum, so a shard edited
afterwards is rerun (and refused by `load_rollouts`) instead of changing the data in silence.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from debtgpt.dialogue import Trajectory
from debtgpt.io import read_jsonl, write_json
from debtgpt.runner import DialogueJob
from debtgpt.scenarios import MissingDataError

SHARDS_DIR = "shards"
PLAN_FILE = "plan.json"
CARD_FILE = "card.json"
CHECKSUMS = "shard_checksums"  # plan.json key: shard index -> sha256 of the file as written


def chunk_jobs(jobs: list[DialogueJob], shard_size: int) -> list[list[DialogueJob]]:
    if shard_size < 1:
        raise ValueError(f"shard_size={shard_size} must be at least 1")
    return [jobs[i : i + shard_size] for i in range(0, len(jobs), shard_size)]


def shard_path(out_dir: str | Path, index: int) -> Path:
    return Path(out_dir) / SHARDS_DIR / f"shard-{index:05d}.jsonl"


def job_key(job: DialogueJob, collector: str) -> str:
    """The key the runner gives this job's trajectory (Trajectory.key)."""
    return f"{job.scenario.id}/{collector}/{job.sample}"


def shard_keys(path: Path) -> list[str] | None:
    """Keys of a shard file in order, or None when it is missing or cannot be read."""
    if not path.exists():
        return None
    try:
        return [row["key"] for row in read_jsonl(path)]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        return None


def file_checksum(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def shard_complete(out_dir: str | Path, index: int, expected_keys: list[str]) -> bool:
    """The shard holds its planned dialogues and is byte for byte what was written."""
    path = shard_path(out_dir, index)
    recorded = read_plan(out_dir).get(CHECKSUMS, {}).get(str(index))
    return recorded is not None and file_checksum(path) == recorded and shard_keys(path) == expected_keys


def record_shard(out_dir: str | Path, index: int) -> None:
    """Keep a just-written shard's checksum in plan.json (a kill before this only reruns that shard)."""
    plan = read_plan(out_dir)
    plan.setdefault(CHECKSUMS, {})[str(index)] = file_checksum(shard_path(out_dir, index))
    write_json(Path(out_dir) / PLAN_FILE, plan)


def read_plan(out_dir: str | Path) -> dict:
    path = Path(out_dir) / PLAN_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def remove_temporaries(out_dir: str | Path) -> int:
    """Half-written temporary files left by a killed atomic write; never a finished shard."""
    folder = Path(out_dir) / SHARDS_DIR
    leftovers = list(folder.glob(".shard-*.tmp")) if folder.is_dir() else []
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def check_plan(out_dir: str | Path, plan: dict, overwrite: bool = False) -> None:
    """Write plan.json, or check that the one already there describes the same run. With `overwrite`, the
    rollouts of a different plan (the files this stage writes, nothing else) are discarded first."""
    path = Path(out_dir) / PLAN_FILE
    if path.exists():
        before = json.loads(path.read_text())
        changed = sorted(k for k in set(before) | set(plan) if k != CHECKSUMS and before.get(k) != plan.get(k))
        if not changed:
            return
        details = "; ".join(f"{k}: {before.get(k)!r} -> {plan.get(k)!r}" for k in changed)
        if not overwrite:
            raise ValueError(
                f"{out_dir} holds rollouts of a different plan ({details}); pass overwrite=true to discard "
                "them, or use another out_dir"
            )
        folder = Path(out_dir)
        for shard in (folder / SHARDS_DIR).glob("shard-*.jsonl"):
            shard.unlink()
        for name in (CARD_FILE, "timing.json", PLAN_FILE):
            (folder / name).unlink(missing_ok=True)
        print(f"rollouts: overwrite=true, discarded the rollouts of the old plan in {out_dir} ({details})")
    write_json(path, plan)


def load_rollouts(rollouts_dir: str | Path) -> tuple[list[Trajectory], dict]:
    """Every trajectory of a finished rollouts run, in job order, and its card."""
    folder = Path(rollouts_dir)
    card_path = folder / CARD_FILE
    if not card_path.exists():
        state = "unfinished (no card.json)" if (folder / SHARDS_DIR).is_dir() else "missing"
        raise MissingDataError(f"rollouts at {folder} are {state}; run `make rollouts` first")
    card = json.loads(card_path.read_text())
    checksums = read_plan(folder).get(CHECKSUMS, {})
    trajectories = []
    for index in range(card["counts"]["shards"]):
        path = shard_path(folder, index)
        if checksums.get(str(index)) != file_checksum(path):
            state = (
                "is missing"
                if not path.exists()
                else "changed after it was written (its checksum differs from plan.json)"
            )
            raise ValueError(
                f"rollouts shard {path} {state}; rerun `make rollouts` with the same settings to rewrite it"
            )
        try:
            trajectories += [Trajectory.from_dict(row) for row in read_jsonl(path)]
        except (ValueError, KeyError, TypeError) as exc:  # JSON and UTF-8 errors are ValueErrors
            raise ValueError(
                f"rollouts shard {path} cannot be read ({type(exc).__name__}: {exc}); "
                "delete it and rerun `make rollouts` to rewrite it"
            ) from None
    keys = [t.key() for t in trajectories]
    if len(keys) != card["counts"]["dialogues"] or len(set(keys)) != len(keys):
        raise ValueError(
            f"rollouts at {folder}: card says {card['counts']['dialogues']} dialogues, shards hold {len(keys)} "
            f"({len(keys) - len(set(keys))} duplicate keys); rerun `make rollouts`"
        )
    return trajectories, card
