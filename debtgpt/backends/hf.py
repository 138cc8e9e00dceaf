"""The `hf` backend: transformers generation on CPU or GPU, batched with left padding.

Conversations are rendered with the tokenizer's chat template (text first: transformers 5
`apply_chat_template` returns token ids unless tokenize=False), sorted by length so that a batch wastes
little padding, and generated `batch_size` at a time until the end-of-turn token.

Seeds: transformers samples a whole batch from one generator, so each batch is seeded with the seed of its
first request. Results are reproducible for the same inputs and batch size, not independent of batching
(the vLLM backend gives every request its own seed). Guided JSON is not available here; `json_schema` is
ignored and the turn parser tolerates what comes back.
"""
from __future__ import annotations

from debtgpt.backends.base import Backend, Conversation, Generation, Sampling, missing_local_model

# End-of-turn markers of common chat templates (ChatML, Llama 3, Gemma, Phi); whichever the vocabulary has stops a turn.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class HFBackend(Backend):
    name = "hf"

    def __init__(
        self,
        model: str = "tiny",
        *,
        adapter: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 32,
        trust_remote_code: bool = False,
        cache_implementation: str | None = "static",
        model_obj=None,
        tokenizer=None,
    ) -> None:
        """`model` is a Hub name, a local path or "tiny"; `adapter` a PEFT adapter folder merged in at load.

        `model_obj` and `tokenizer` let a caller pass objects it already loaded (benchmarks, tests).
        """
        super().__init__()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from debtgpt.tiny import resolve_model

        if dtype not in DTYPES:
            raise ValueError(f"dtype={dtype!r} is not known; allowed values: {', '.join(DTYPES)}")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be at least 1")
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        path = resolve_model(model)
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if model_obj is None:
            torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
            model_obj = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, trust_remote_code=trust_remote_code)
            if adapter:
                from peft import PeftModel

                # Merged once at load: generation then runs at the base model's speed.
                model_obj = PeftModel.from_pretrained(model_obj, adapter).merge_and_unload()
        self.model = model_obj.to(self.device).eval()
        self.batch_size = batch_size
        # A preallocated KV cache: the default dynamic cache re-concatenates every step, which costs a batch more
        # than it costs one dialogue (measured 1.8x on the tiny model on CPU); None restores the dynamic cache.
        self.cache_implementation = cache_implementation
        self.stop_token_ids = self._stop_token_ids()
        self.context_length = getattr(self.model.config, "max_position_embeddings", None)

    def _stop_token_ids(self) -> list[int]:
        ids = set()
        eos = self.model.generation_config.eos_token_id
        ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
        return sorted(ids)

    def render(self, conversation: Conversation) -> str:
        return self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)

    def generate(self, conversations: list[Conversation], sampling: Sampling, seeds: list[int] | None = None) -> list[Generation]:
        if seeds is not None and len(seeds) != len(conversations):
            raise ValueError(f"got {len(seeds)} seeds for {len(conversations)} conversations")
        # Templates already carry their special tokens; adding them again would double the BOS.
        prompts = [self.tokenizer(self.render(c), add_special_tokens=False)["input_ids"] for c in conversations]
        results: list[Generation | None] = [None] * len(conversations)
        runnable = []
        for i, ids in enumerate(prompts):
            if self.context_length and len(ids) + sampling.max_tokens > self.context_length:
                results[i] = Generation(
                    text="", prompt_tokens=len(ids),
                    error=f"prompt of {len(ids)} tokens plus max_tokens={sampling.max_tokens} exceeds the model's context of {self.context_length}",
                )
            else:
                runnable.append(i)
        runnable.sort(key=lambda i: len(prompts[i]))
        for start in range(0, len(runnable), self.batch_size):
            chunk = runnable[start : start + self.batch_size]
            seed = seeds[chunk[0]] if seeds is not None else None
            for i, generation in zip(chunk, self._generate_batch([prompts[i] for i in chunk], sampling, seed)):
                results[i] = generation
        self.usage.add(results)
        return results  # type: ignore[return-value]

    def _generate_batch(self, prompts: list[list[int]], sampling: Sampling, seed: int | None) -> list[Generation]:
        import torch

        batch = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(self.device)
        options = dict(
            max_new_tokens=sampling.max_tokens,
            eos_token_id=self.stop_token_ids,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        if self.cache_implementation:
            options["cache_implementation"] = self.cache_implementation
        if sampling.temperature > 0:
            options.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            output = self.model.generate(**batch, **options)
        new_tokens = output[:, batch["input_ids"].shape[1] :].tolist()
        stops = set(self.stop_token_ids)
        generations = []
        for prompt, tokens in zip(prompts, new_tokens):
            end = next((k for k, t in enumerate(tokens) if t in stops), None)
            completion = tokens if end is None else tokens[: end + 1]
            text = self.tokenizer.decode(completion, skip_special_tokens=True)
            generations.append(Generation(text=_cut_at_stop(text, sampling.stop), prompt_tokens=len(prompt), completion_tokens=len(completion)))
        return generations

    def close(self) -> None:
        self.model = None

    @classmethod
    def preflight(cls, model: str = "tiny", adapter: str | None = None, **_) -> str | None:
        return missing_local_model(model) or missing_local_model(adapter, "adapter")


def _cut_at_stop(text: str, stop: list[str]) -> str:
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text
