"""The tiny model: a small Llama with a tokenizer trained on the project's own dialogue text, built offline.

It lets every stage (rollouts, SFT, DPO, evaluation) run end to end on a CPU in seconds. The tokenizer is a
byte-level BPE trained on a corpus made here: the prompt templates, the system prompts of sample
scenarios, and transcripts of scripted dialogues in the JSON turn protocol. The chat template marks
assistant spans with {% generation %} so that TRL's `assistant_only_loss=True` accepts it. Weights are
random (seeded): the point is plumbing and speed, not quality.

    python -m debtgpt.tiny [--out checkpoints/tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from debtgpt.io import staging_folder

TINY_NAME = "tiny"
DEFAULT_TINY_DIR = "checkpoints/tiny"  # overridable with DEBTGPT_TINY_DIR
BUILD_VERSION = 2  # bump when the recipe changes: an older build is then rebuilt
MARKER = "tiny_build.json"

VOCAB_SIZE = 3072
SPECIAL_TOKENS = ("<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>")
# ChatML turns; assistant content and its end-of-turn token are the generation span (the SFT loss targets).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
MODEL_SHAPE = dict(
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    max_position_embeddings=4096,  # whole dialogues with their system prompt fit
)
CORPUS_SCENARIOS = 48
CORPUS_MAX_TURNS = 20


def default_tiny_dir() -> Path:
    return Path(os.environ.get("DEBTGPT_TINY_DIR", DEFAULT_TINY_DIR))


def resolve_model(name: str) -> str:
    """ "tiny" -> the local tiny model (built on first use); anything else is a Hub name or path, passed through."""
    return str(ensure_tiny_model(default_tiny_dir())) if name == TINY_NAME else name


def corpus(seed: int = 0) -> list[str]:
    """The project's own text: prompt templates, system prompts and scripted dialogues in the turn protocol."""
    import random

    from debtgpt.agents.base import View
    from debtgpt.agents.llm_debtor import debtor_system_prompt
    from debtgpt.agents.prompting import collector_messages, heard_text
    from debtgpt.agents.scripted import SCRIPTED_COLLECTORS, ScriptedDebtor, make_scripted_collector
    from debtgpt.constants import AGREEMENT_GRID, COLLECTOR_STRATEGIES, DEBTOR_STRATEGIES
    from debtgpt.dialogue import Scenario
    from debtgpt.personas import generate_personas
    from debtgpt.prompts import template_names
    from debtgpt.protocol import write_turn
    from debtgpt.records import generate_records
    from debtgpt.runner import DialogueJob, run_dialogues

    records = generate_records(CORPUS_SCENARIOS, seed)
    scenarios = [Scenario(id=r.id, record=r, persona=p) for r, p in zip(records, generate_personas(records, seed))]
    texts = [_template_source(name) for name in template_names()]
    texts.append("\n".join((*COLLECTOR_STRATEGIES, *DEBTOR_STRATEGIES)))
    texts.append(json.dumps({k: list(v) for k, v in AGREEMENT_GRID.items()}))
    for scenario in scenarios:
        view = View("corpus", "collector", scenario.record.public(), [], random.Random(0), CORPUS_MAX_TURNS)
        texts.append(collector_messages(view)[0]["content"])
        texts.append(debtor_system_prompt(scenario.persona, scenario.record))
    jobs = [DialogueJob(s) for s in scenarios]
    for name in SCRIPTED_COLLECTORS:
        for trajectory in run_dialogues(
            jobs, make_scripted_collector(name), ScriptedDebtor(), seed=seed, max_turns=CORPUS_MAX_TURNS
        ):
            for turn in trajectory.turns:
                public = trajectory.scenario.record.public() if turn.role == "collector" else None
                texts.append(write_turn(turn, public))  # what an LLM side writes
                texts.append(heard_text(turn))  # what the other side reads
    return texts


def _template_source(name: str) -> str:
    from importlib import resources

    return resources.files("debtgpt.prompts").joinpath(name).read_text(encoding="utf-8")


def build_tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte stays encodable
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|im_start|>"],
        chat_template=CHAT_TEMPLATE,
        model_max_length=MODEL_SHAPE["max_position_embeddings"],
        padding_side="left",
    )


def build_model(tokenizer, seed: int = 0):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **MODEL_SHAPE,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model


def is_built(path: Path) -> bool:
    marker = path / MARKER
    if not marker.is_file():
        return False
    return json.loads(marker.read_text()).get("version") == BUILD_VERSION


def ensure_tiny_model(path: str | os.PathLike = DEFAULT_TINY_DIR, seed: int = 0) -> Path:
    """Build the tiny model into `path` unless it is already there; returns the folder."""
    path = Path(path)
    if is_built(path):
        return path
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tokenizer = build_tokenizer(corpus(seed))
    model = build_model(tokenizer, seed)
    # Written beside the target and renamed, so a reader never sees half a model.
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(path.parent, ".tiny-")
    tokenizer.save_pretrained(staging)
    model.save_pretrained(staging)
    (staging / MARKER).write_text(
        json.dumps({"version": BUILD_VERSION, "seed": seed, "vocab_size": len(tokenizer), **MODEL_SHAPE}, indent=2)
    )
    if path.exists():
        shutil.rmtree(path)
    try:
        staging.rename(path)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
        if not is_built(path):
            raise
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(default_tiny_dir()), help="folder to build into (skipped if already built)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(ensure_tiny_model(args.out, args.seed))


if __name__ == "__main__":
    main()
