"""Qwen2.5-0.5B-Instruct as the GPU benchmarks model it offline: its architecture, and its token lengths.

Nothing comes from the Hub: the model is built from this shape with random weights, and the text is tokenized
by the tiny model's byte-level BPE tokenizer. Token lengths are then made Qwen2.5-shaped by an estimate:

- Qwen2.5's vocabulary starts from tiktoken's cl100k_base (the Qwen technical report's tokenization
  section), and OpenAI's documented rule of thumb for that vocabulary is about 4 characters per token of
  English text. So a message of c characters counts as ceil(c / 4) Qwen2.5 tokens (QWEN25_CHARS_PER_TOKEN).
  Our turns are JSON with short English strings and numbers, which likely tokenize somewhat denser: the
  ratio is an estimate, and the training benchmark takes --chars-per-token to try another.
- The tiny tokenizer gives about 3.5-3.9 characters per token on this workload (system cards 3.7, debtor
  turns 3.5, collector turns 3.85, measured on tests/workload.py's dialogues), so its own lengths
  are close but not equal. `reshape_messages` rewrites each message's text so that the tiny tokenizer
  counts about the Qwen2.5 estimate for it (re-encoding a cut can merge a token or two); the chat template
  (ChatML in both) adds the same few tokens per message.
"""

from __future__ import annotations

import math

# Qwen2.5-0.5B-Instruct's config.json.
QWEN25_05B_SHAPE = dict(
    vocab_size=151936,
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
QWEN25_CHARS_PER_TOKEN = 4.0


def qwen_shaped_model(tokenizer, dtype=None, seed: int = 0):
    """A Qwen2ForCausalLM of that shape with random weights, using `tokenizer`'s special token ids."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        **QWEN25_05B_SHAPE,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    if dtype is not None:
        model = model.to(dtype)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def qwen_tokens(text: str, chars_per_token: float = QWEN25_CHARS_PER_TOKEN) -> int:
    return math.ceil(len(text) / chars_per_token)


def reshaped_text(text: str, tokenizer, tokens: int) -> str:
    """Text the tiny tokenizer counts as `tokens` tokens, cut from (or repeating) `text`."""
    ids = (
        tokenizer(text, add_special_tokens=False)["input_ids"] or tokenizer(" ", add_special_tokens=False)["input_ids"]
    )
    ids = (ids * math.ceil(tokens / len(ids)))[:tokens]
    return tokenizer.decode(ids)


def reshape_messages(messages: list[dict], tokenizer, chars_per_token: float = QWEN25_CHARS_PER_TOKEN) -> list[dict]:
    """The same chat with each message's text resized to its Qwen2.5 token estimate (roles and order kept)."""
    return [
        {**m, "content": reshaped_text(m["content"], tokenizer, qwen_tokens(m["content"], chars_per_token))}
        for m in messages
    ]


def reshape_workload(data_dir, tokenizer, chars_per_token: float = QWEN25_CHARS_PER_TOKEN) -> None:
    """Rewrite tests/workload.py's sets in place (sft, dpo_turn, dpo_dialogue)
    with Qwen2.5-shaped lengths."""
    import shutil
    from pathlib import Path

    from datasets import load_from_disk

    for folder in sorted(p for p in Path(data_dir).iterdir() if (p / "dataset_info.json").is_file()):
        dataset = load_from_disk(str(folder))
        chat_columns = [c for c in ("messages", "prompt", "chosen", "rejected") if c in dataset.column_names]
        reshaped = dataset.map(
            lambda row: {c: reshape_messages(row[c], tokenizer, chars_per_token) for c in chat_columns}
        )
        staging = folder.with_name(folder.name + ".reshaped")
        reshaped.save_to_disk(str(staging))
        card = folder / "card.json"
        if card.is_file():
            shutil.copy(card, staging / "card.json")
        shutil.rmtree(folder)
        staging.rename(folder)
