"""Every set of a `make pairs` run written as one unit: a crash never leaves old and new sets mixed.

Each set is saved in a staging folder under out_dir (`save_to_disk`, the same rows as <set>.parquet, card.json and
README.md), the folder is marked complete, and only then are the sets moved into place. A run killed while
building leaves the old sets whole (the incomplete staging folder is dropped); one killed during the moves
(milliseconds) leaves a complete staging folder, which the next run finishes moving before it starts.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from data_gen.pair_sets import PAIR_SETS
from data_gen.pair_sets.cards import card_markdown

COMPLETE = "COMPLETE"


def write_sets(out_dir: Path, rows: dict[str, list[dict]], cards: dict[str, dict]) -> None:
    """Every set of this run (save_to_disk + Parquet + card) built in a staging folder, then moved into place
    together."""
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    from debtgpt.io import write_json

    disable_progress_bar()  # one printed line per set is enough
    out_dir.mkdir(parents=True, exist_ok=True)
    finish_interrupted_swap(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=".sets-", dir=out_dir))
    for name, set_rows in rows.items():
        folder = staging / name
        features = PAIR_SETS[name].features()
        # by column: from_list of no rows infers no columns and then refuses the features (an empty set is valid)
        columns = {column: [row[column] for row in set_rows] for column in features}
        dataset = Dataset.from_dict(columns, features=features)
        dataset.save_to_disk(str(folder))
        dataset.to_parquet(str(folder / f"{name}.parquet"))
        write_json(folder / "card.json", cards[name])
        (folder / "README.md").write_text(card_markdown(cards[name]), encoding="utf-8")
    (staging / COMPLETE).write_text("\n".join(rows) + "\n")
    finish_interrupted_swap(out_dir)
    shutil.rmtree(staging, ignore_errors=True)


def finish_interrupted_swap(out_dir: Path) -> None:
    """Move every complete staging folder's sets into place; drop incomplete ones (a run killed while building)."""
    for staging in sorted(out_dir.glob(".sets-*")):
        if not (staging / COMPLETE).is_file():
            shutil.rmtree(staging, ignore_errors=True)
            continue
        for name in (staging / COMPLETE).read_text().split():
            if (staging / name).is_dir():
                if (out_dir / name).exists():
                    shutil.rmtree(out_dir / name)
                (staging / name).rename(out_dir / name)
        shutil.rmtree(staging, ignore_errors=True)
