"""The tiny model: built offline and deterministically, with a chat template fit for assistant-only loss."""

from __future__ import annotations

import json

from transformers import AutoConfig, AutoTokenizer

from debtgpt.dialogue import Turn
from debtgpt.protocol import write_turn
from debtgpt.tiny import MARKER, TINY_NAME, ensure_tiny_model, resolve_model

MESSAGES = [
    {"role": "system", "content": "You are a debt collector."},
    {"role": "user", "content": "(The call connects. The debtor picks up.)"},
    {"role": "assistant", "content": '{"action": "non"}'},
    {"role": "user", "content": "I lost my job."},
]


def test_second_build_is_skipped(tiny_model_dir):
    weights = tiny_model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert ensure_tiny_model(tiny_model_dir) == tiny_model_dir
    assert weights.stat().st_mtime_ns == before


def test_build_is_deterministic(tiny_model_dir, tmp_path):
    again = ensure_tiny_model(tmp_path / "again")
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name


def test_shape_and_vocabulary(tiny_model_dir):
    config = AutoConfig.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert config.model_type == "llama" and config.max_position_embeddings == 4096
    assert 2000 <= len(tokenizer) <= 4096 == config.max_position_embeddings
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|pad|>"
    assert json.loads((tiny_model_dir / MARKER).read_text())["vocab_size"] == config.vocab_size


def test_chat_template_marks_only_assistant_spans(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    out = tokenizer.apply_chat_template(MESSAGES, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tokenizer.decode(masked) == '{"action": "non"}<|im_end|>'


def test_generation_prompt_opens_an_assistant_turn(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert text.endswith("I lost my job.<|im_end|>\n<|im_start|>assistant\n")


def test_tokenizer_knows_the_protocol(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = write_turn(
        Turn(
            role="collector", action="non", strategy="repayment negotiation", dialogue="Can you pay 25% within 7 days?"
        )
    )
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text) / 3  # trained on this very text: words and labels merge into few tokens


def test_tiny_name_resolves_to_local_folder(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("DEBTGPT_TINY_DIR", str(tiny_model_dir))
    assert resolve_model(TINY_NAME) == str(tiny_model_dir)
    assert resolve_model("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
