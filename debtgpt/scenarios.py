"""The scenario set: records and personas joined, split train/test stratified by archetype, saved with a card."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np

from debtgpt.constants import ARCHETYPES
from debtgpt.dialogue import Scenario
from debtgpt.io import package_versions, read_jsonl, write_json, write_jsonl
from debtgpt.personas import Persona, generate_personas
from debtgpt.records import DebtRecord, generate_records

DATA_VERSION = "1"
SPLITS = ("train", "val", "test")


class MissingDataError(FileNotFoundError):
    """A stage's input is not there yet; the message names the make target that builds it."""


def build_scenarios(num_records: int, seed: int) -> list[Scenario]:
    return join_personas(generate_records(num_records, seed), seed)


def join_personas(records: list[DebtRecord], seed: int) -> list[Scenario]:
    """One persona per record, whichever source the records came from."""
    personas = generate_personas(records, seed + 1)
    return [Scenario(id=record.id, record=record, persona=persona) for record, persona in zip(records, personas)]


def split_by_archetype(
    scenarios: list[Scenario], test_fraction: float, seed: int, val_fraction: float = 0.0
) -> dict[str, list[Scenario]]:
    """Each archetype gives round(count * test_fraction) scenarios to test and round(count * val_fraction) to val.

    val is carved from what test leaves, so the test split is the same with or without a val split:
    settings are chosen on val and the test personas are looked at once, at the end.
    """
    rng = np.random.default_rng(seed)
    test_ids: set[str] = set()
    val_ids: set[str] = set()
    for archetype in ARCHETYPES:
        ids = sorted(s.id for s in scenarios if s.archetype == archetype)
        rng.shuffle(ids)
        n_test, n_val = round(len(ids) * test_fraction), round(len(ids) * val_fraction)
        test_ids.update(ids[:n_test])
        val_ids.update(ids[n_test : n_test + n_val])
    splits = {
        "train": [s for s in scenarios if s.id not in test_ids and s.id not in val_ids],
        "val": [s for s in scenarios if s.id in val_ids],
        "test": [s for s in scenarios if s.id in test_ids],
    }
    return splits if val_ids else {k: v for k, v in splits.items() if k != "val"}


def shares(scenarios: list[Scenario]) -> dict[str, float]:
    counts = Counter(s.archetype for s in scenarios)
    return {a: round(counts[a] / len(scenarios), 4) if scenarios else 0.0 for a in ARCHETYPES}


def write_scenarios(
    out_dir: str | Path,
    splits: dict[str, list[Scenario]],
    config: dict,
    extra: dict | None = None,
    versions: tuple[str, ...] = ("numpy",),
) -> dict:
    """records.jsonl, personas.jsonl, one file of ids per split, and card.json (with `extra` sections)."""
    out = Path(out_dir)
    everything = sorted((s for split in splits.values() for s in split), key=lambda s: s.id)
    write_jsonl(out / "records.jsonl", (s.record.to_dict() for s in everything))
    write_jsonl(out / "personas.jsonl", (s.persona.to_dict() for s in everything))
    for name, split in splits.items():
        write_jsonl(out / f"{name}.jsonl", ({"id": s.id, "archetype": s.archetype} for s in split))
    card = {
        "version": DATA_VERSION,
        "config": config,
        "seed": config.get("seed"),
        "counts": {name: len(split) for name, split in splits.items()} | {"all": len(everything)},
        "archetype_counts": {
            name: dict(sorted(Counter(s.archetype for s in split).items())) for name, split in splits.items()
        },
        "archetype_shares": {name: shares(split) for name, split in splits.items()} | {"all": shares(everything)},
        "versions": package_versions(versions),
        # provenance: a file swapped in from another folder or seed no longer matches
        "files": {
            name: _sha256(out / name) for name in ("records.jsonl", "personas.jsonl", *(f"{n}.jsonl" for n in splits))
        },
    } | (extra or {})
    write_json(out / "card.json", card)
    return card


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_provenance(data: Path) -> None:
    """The folder's files are the ones its card.json was written with, and no scenario is in two splits."""
    card_path = data / "card.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    for name, checksum in card.get("files", {}).items():
        if (data / name).is_file() and _sha256(data / name) != checksum:
            raise ValueError(
                f"data folder {data}: {name} is not the file its card.json was written with (seed "
                f"{card.get('seed')}); it was changed or copied from another data folder. Rebuild the "
                f'folder with `make data` (ARGS="out_dir={data} seed=...")'
            )
    ids = {
        split: {row["id"] for row in read_jsonl(data / f"{split}.jsonl")}
        for split in SPLITS
        if (data / f"{split}.jsonl").is_file()
    }
    names = sorted(ids)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = ids[a] & ids[b]
            if shared:
                raise ValueError(
                    f"data folder {data}: {len(shared)} {a} scenarios are also in {b} (e.g. {sorted(shared)[0]}); "
                    f"the splits come from different runs. Rebuild it with `make data`"
                )


def load_scenarios(data_dir: str | Path, split: str) -> list[Scenario]:
    """Scenarios of one split, in file order."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not allowed; allowed values: {', '.join(SPLITS)}")
    data = Path(data_dir)
    needed = [data / name for name in ("records.jsonl", "personas.jsonl", f"{split}.jsonl")]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise MissingDataError(f"no scenario data at {data} (missing {', '.join(missing)}); run `make data` first")
    check_provenance(data)
    records = {row["id"]: DebtRecord.from_dict(row) for row in read_jsonl(data / "records.jsonl")}
    personas = {row["record_id"]: Persona.from_dict(row) for row in read_jsonl(data / "personas.jsonl")}
    return [
        Scenario(id=row["id"], record=records[row["id"]], persona=personas[row["id"]])
        for row in read_jsonl(data / f"{split}.jsonl")
    ]
