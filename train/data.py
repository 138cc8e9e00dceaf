"""The training sets: loading what data_gen wrote, and fitting max_length to their measured token lengths."""

from __future__ import annotations

import json
from pathlib import Path

from train.console import say


def load_dataset_folder(path: str | Path):
    """A dataset written by data_gen (save_to_disk), or a parquet file/folder of the same rows."""
    from datasets import load_dataset, load_from_disk

    path = Path(path)
    if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
        return load_from_disk(str(path))
    parquet = [str(path)] if path.suffix == ".parquet" else sorted(map(str, path.glob("*.parquet")))
    if not parquet:
        raise FileNotFoundError(
            f"no dataset at {path} (neither save_to_disk output nor parquet files); run `make pairs` first"
        )
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


def fit_max_length(
    lengths: list[int], cap: int | None, overlength: str, context: int | None, what: str
) -> tuple[int, list[int]]:
    """The max_length to train with and the indices of the examples kept.

    A dialogue's outcome is at its end, so nothing is truncated: with no cap the longest example sets
    max_length; with a cap, longer examples fail the run (overlength=fail) or are dropped with a count.
    """
    if not lengths:
        raise ValueError(f"the {what} dataset is empty")
    ordered = sorted(lengths)
    longest, median = ordered[-1], ordered[len(ordered) // 2]
    say(
        f"token lengths of {len(lengths)} {what}: median {median}, "
        f"p95 {ordered[int(0.95 * (len(ordered) - 1))]}, longest {longest}"
    )
    limit = longest if cap is None else cap
    if context is not None and limit > context:
        raise ValueError(
            f"max_length={limit} (longest {what} example: {longest} tokens) exceeds the model's context of {context}; "
            f"set max_length <= {context} with overlength=drop, or use a model with a longer context"
        )
    over = [i for i, n in enumerate(lengths) if n > limit]
    if over and overlength == "fail":
        raise ValueError(
            f"{len(over)} of {len(lengths)} {what} examples are longer than max_length={limit} "
            f"(longest {longest} tokens) "
            "and would lose their end; set max_length=null to fit them all, raise max_length, or set overlength=drop"
        )
    if over:
        say(f"dropped {len(over)} of {len(lengths)} {what} examples longer than max_length={limit} (overlength=drop)")
    dropped = set(over)
    return limit, [i for i in range(len(lengths)) if i not in dropped]
