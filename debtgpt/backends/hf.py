"""The `hf` backend: transformers generation on CPU or GPU, batched with left padding.

Conversations are rendered with the tokenizer's chat template (text first: transformers 5
`apply_chat_template` returns token ids unless tokenize=False), sorted by length so that a batch wastes
little padding, and generated `batch_size` at a time until the end-of-turn token.

Seeds: with the prefix cache (the default), every request samples from its own seed (`_sample`): a
request's tokens are the same alone or in any batch, and two models asked with the same seed draw with the
same noise, so similar models say the same thing where their distributions agree (common random numbers for
the collector, as the runner's streams give them to the debtor). `model.generate` (prefix_cache_gib=0)
samples a whole batch from one generator, seeded with its first request's seed: reproducible for the same
inputs and batch size only. Guided JSON is not available here; `json_schema` is ignored and the turn parser
tolerates what comes back.

The prefix-cached path reaches into transformers' cache classes and attention registry, so it runs only where it
is tested equal to `model.generate` (tests/test_backends.py): transformers FAST_PATH_TRANSFORMERS with a
FAST_PATH_MODEL_TYPES model. Anything else decodes with `model.generate`, after one warning line.
"""

from __future__ import annotations

import logging

from debtgpt.backends.base import Backend, Conversation, Generation, Sampling, missing_local_model
from debtgpt.backends.lean_forward import LeanForward
from debtgpt.backends.prefix_cache import (
    CachedPrefix,
    PrefixCache,
    common_prefix_length,
    preallocated_cache,
    use_cascade_attention,
)
from debtgpt.backends.settings import DTYPES

# End-of-turn markers of common chat templates (ChatML, Llama 3, Gemma, Phi); whichever the vocabulary has stops a
# turn.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")
# Where the prefix-cached path is tested equal to model.generate: transformers' minor version, and model types
FAST_PATH_TRANSFORMERS = "5.17"
FAST_PATH_MODEL_TYPES = ("llama", "qwen2")
log = logging.getLogger(__name__)
# A batch's common prompt prefix shorter than this is attended as part of each row (too little to gain)
MIN_SHARED_PREFIX = 64
SHARED_PREFIXES_KEPT = 8


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
        prefix_cache_gib: float = 2.0,
        compile: bool = False,
        model_obj=None,
        tokenizer=None,
    ) -> None:
        """`model` is a Hub name, a local path or "tiny"; `adapter` a PEFT adapter folder merged in at load.

        `model_obj` and `tokenizer` let a caller pass objects it already loaded (benchmarks, tests).
        `prefix_cache_gib` > 0 keeps each conversation's KV cache between calls (prefix_cache.py) and decodes
        with the loop below, attending a batch's shared prompt prefix once (the model's attention becomes
        `cascade_attention`); 0 re-encodes every prompt through `model.generate` each call.
        `compile` lets transformers torch.compile decoding (`model.generate` on CUDA with the static cache only,
        so prefix_cache_gib=0); off, it never does.
        """
        super().__init__()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from debtgpt.tiny import resolve_model

        if dtype not in DTYPES:
            raise ValueError(f"dtype={dtype!r} is not known; allowed values: {', '.join(DTYPES)}")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be at least 1")
        if prefix_cache_gib < 0:
            raise ValueError(f"prefix_cache_gib={prefix_cache_gib} must be >= 0 (0 turns the prefix cache off)")
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if compile and not (
            self.device.startswith("cuda") and cache_implementation == "static" and not prefix_cache_gib
        ):
            raise ValueError(
                "compile=true needs device=cuda, cache_implementation='static' and prefix_cache_gib=0 "
                "(transformers compiles only model.generate's decoding there); "
                f"got device={self.device!r}, cache_implementation={cache_implementation!r}, "
                f"prefix_cache_gib={prefix_cache_gib}"
            )
        # transformers 5.17 compiles decoding by itself whenever a static cache runs on CUDA, and the runner's
        # shrinking batches and growing prompts recompile it: compiling is an explicit choice instead
        self.compile_options = {} if compile else {"disable_compile": True}
        path = resolve_model(model)
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if model_obj is None:
            torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
            model_obj = AutoModelForCausalLM.from_pretrained(
                path, dtype=torch_dtype, trust_remote_code=trust_remote_code
            )
            if adapter:
                from peft import PeftModel

                # Merged once at load: generation then runs at the base model's speed.
                model_obj = PeftModel.from_pretrained(model_obj, adapter).merge_and_unload()
        self.model = model_obj.to(self.device).eval()
        self.batch_size = batch_size
        # A preallocated KV cache: the default dynamic cache re-concatenates every step, which costs a batch more
        # than it costs one dialogue (measured 1.8x on the tiny model on CPU); None restores the dynamic cache.
        self.cache_implementation = cache_implementation
        untested = fast_path_untested(self.model) if prefix_cache_gib > 0 else None
        if untested:
            log.warning("hf backend: %s, where the prefix-cached decoding is untested; using model.generate", untested)
        self.prefix_cache = (
            PrefixCache(int(prefix_cache_gib * 2**30)) if prefix_cache_gib > 0 and not untested else None
        )
        self._shared_layers: dict[tuple, list] = {}  # shared prompt prefix -> its keys and values per layer
        # a model on a GPU, or whose attention is not transformers' pluggable kind, keeps its own, and rows hold the
        # whole prompt
        self.cascade = self.prefix_cache is not None and use_cascade_attention(self.model)
        # the decoding loop's forward: the same tensor operations as the model's own, without its Python overhead
        self.lean_forward = LeanForward.of(self.model) if self.prefix_cache is not None else None
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

    def generate(
        self, conversations: list[Conversation], sampling: Sampling, seeds: list[int] | None = None
    ) -> list[Generation]:
        if seeds is not None and len(seeds) != len(conversations):
            raise ValueError(f"got {len(seeds)} seeds for {len(conversations)} conversations")
        # Templates already carry their special tokens; adding them again would double the BOS.
        # one call for the batch: the tokenizer encodes a list on all its threads
        prompts = (
            self.tokenizer([self.render(c) for c in conversations], add_special_tokens=False)["input_ids"]
            if conversations
            else []
        )
        results: list[Generation | None] = [None] * len(conversations)
        runnable = []
        for i, ids in enumerate(prompts):
            if self.context_length and len(ids) + sampling.max_tokens > self.context_length:
                results[i] = Generation(
                    text="",
                    prompt_tokens=len(ids),
                    error=f"prompt of {len(ids)} tokens plus max_tokens={sampling.max_tokens} "
                    f"exceeds the model's context of {self.context_length}",
                )
            else:
                runnable.append(i)
        found = (
            {i: self.prefix_cache.lookup(conversations[i], prompts[i]) for i in runnable} if self.prefix_cache else {}
        )
        if found:
            found = self._prefill_repeats(conversations, prompts, runnable, found)
        # Batch what must be encoded alike: with the prefix cache, that is the part not cached.
        runnable.sort(key=lambda i: len(prompts[i]) - (found[i][1] if found else 0))
        for start in range(0, len(runnable), self.batch_size):
            chunk = runnable[start : start + self.batch_size]
            if found:
                batch = self._generate_reusing(
                    [conversations[i] for i in chunk],
                    [prompts[i] for i in chunk],
                    [found[i] for i in chunk],
                    sampling,
                    [seeds[i] for i in chunk] if seeds is not None else None,
                )
            else:
                batch = self._generate_batch(
                    [prompts[i] for i in chunk], sampling, seeds[chunk[0]] if seeds is not None else None
                )
            for i, generation in zip(chunk, batch):
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
        options.update(self.compile_options)
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
            generations.append(
                Generation(
                    text=_cut_at_stop(text, sampling.stop),
                    prompt_tokens=len(prompt),
                    completion_tokens=len(completion),
                )
            )
        return generations

    def _prefill_repeats(self, conversations, prompts, runnable, found) -> dict:
        """Encode once a prompt that several requests share (the candidates of one branch point), then look up
        again."""
        from collections import Counter

        repeats = Counter(tuple(prompts[i]) for i in runnable if found[i][1] < len(prompts[i]) - 1)
        first = {}
        for i in runnable:
            if repeats.get(tuple(prompts[i]), 0) > 1:
                first.setdefault(tuple(prompts[i]), i)
        if not first:
            return found
        chunk = list(first.values())
        for start in range(0, len(chunk), self.batch_size):
            part = chunk[start : start + self.batch_size]
            self._generate_reusing(
                [conversations[i] for i in part],
                [prompts[i] for i in part],
                [found[i] for i in part],
                Sampling(max_tokens=0),
                None,
            )
        return {i: self.prefix_cache.lookup(conversations[i], prompts[i]) for i in runnable}

    def _shared_prefix(self, prompts: list[list[int]], found: list) -> tuple[int, dict]:
        """(length, model kwargs) of the token prefix all `prompts` share, when it is long enough to pay.

        Its keys and values come from a remembered earlier batch, a row's cache entry, or one prefill of a
        single row; at least one token of every prompt is left to prefill.
        """
        import torch
        from transformers.cache_utils import DynamicCache

        if not self.cascade:
            return 0, {}
        shared = min(len(p) for p in prompts) - 1 if len(prompts) > 1 else 0
        for prompt in prompts[1:]:  # each comparison stops at what the earlier ones left shared
            shared = common_prefix_length(prompts[0][:shared], prompt)
        if shared < MIN_SHARED_PREFIX:
            return 0, {}
        key = tuple(prompts[0][:shared])
        layers = self._shared_layers.pop(key, None)
        if layers is None:
            entry = next((entry for entry, n in found if n >= shared), None)
            if entry is not None:
                layers = [
                    (k[:, :shared].to(self.device), v[:, :shared].to(self.device))
                    for k, v in zip(entry.keys, entry.values)
                ]
            else:
                cache = DynamicCache(config=self.model.config)
                with torch.inference_mode():
                    self.model(
                        input_ids=torch.tensor([prompts[0][:shared]], device=self.device),
                        past_key_values=cache,
                        use_cache=True,
                        logits_to_keep=1,
                    )
                layers = [(layer.keys[0], layer.values[0]) for layer in cache.layers]
        self._shared_layers[key] = layers  # most recent last; a handful is enough (one system prompt per agent)
        while len(self._shared_layers) > SHARED_PREFIXES_KEPT:
            self._shared_layers.pop(next(iter(self._shared_layers)))
        return shared, {"shared_prefix": layers}

    def _generate_reusing(
        self,
        conversations: list[Conversation],
        prompts: list[list[int]],
        found: list,
        sampling: Sampling,
        seeds: list[int] | None,
    ) -> list[Generation]:
        """One batch, prefilling only what the prefix cache lacks, then decoding with a KV cache of its own.

        The tokens every prompt of the batch starts with (the system prompt's common part) are kept once, outside
        the rows, and attended by `cascade_attention`. Row layout after them: [pad][cached][pad][new prompt
        tokens][generated]; the attention mask hides the pads and position ids continue each row's own count,
        so a row computes what it would compute alone.
        Rows leave the batch once their stop token is encoded, and their keys and values are stored for their
        next turn.
        """
        import torch

        cache_store, device = self.prefix_cache, self.device
        shared, shared_prefix = self._shared_prefix(prompts, found)
        # Each row's own cache starts after the shared prefix: a row cached short of it prefills from there.
        past = [max(n, shared) - shared for _, n in found]
        suffixes = [p[shared + n :] for p, n in zip(prompts, past)]
        cache_store.reused_tokens += sum(shared + n for n in past)
        cache_store.prefilled_tokens += sum(len(s) for s in suffixes)
        rows, width, longest = len(prompts), max(past), max(len(s) for s in suffixes)
        capacity = width + longest + sampling.max_tokens
        pad = self.tokenizer.pad_token_id

        mask = torch.zeros(rows, capacity, dtype=torch.long)
        input_ids = torch.full((rows, longest), pad, dtype=torch.long)
        positions = torch.zeros(rows, longest, dtype=torch.long)
        for i, (n, suffix) in enumerate(zip(past, suffixes)):
            mask[i, width - n : width] = 1
            mask[i, width + longest - len(suffix) : width + longest] = 1
            input_ids[i, longest - len(suffix) :] = torch.tensor(suffix)
            positions[i, longest - len(suffix) :] = torch.arange(shared + n, shared + n + len(suffix))
        config = self.model.config
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        layer_past = []
        for layer in range(config.num_hidden_layers):
            keys = torch.zeros(rows, heads, width, head_dim, dtype=self.model.dtype)
            values = torch.zeros_like(keys)
            for i, ((entry, _), n) in enumerate(zip(found, past)):
                if n:
                    keys[i, :, width - n :] = entry.keys[layer][:, shared : shared + n]
                    values[i, :, width - n :] = entry.values[layer][:, shared : shared + n]
            layer_past.append((keys.to(device), values.to(device)))
        cache = preallocated_cache(layer_past, capacity)
        length = width + longest  # filled columns of `mask`, the same as the cache's length after each forward

        # each row's own seed (drawn from torch's generator where the caller gave none): `_sample` hashes it
        seeds_left = (
            torch.tensor(seeds, dtype=torch.long) if seeds is not None else torch.randint(2**31, (rows,))
        ).to(device)
        stops = torch.tensor(self.stop_token_ids, device=device)
        mask, input_ids, positions = mask.to(device), input_ids.to(device), positions.to(device)
        live = list(range(rows))  # batch row -> request index
        tokens: list[list[int]] = [[] for _ in range(rows)]
        done = torch.zeros(rows, dtype=torch.bool, device=device)  # stop token (or the max_tokens-th) sampled
        results: list[Generation | None] = [None] * rows

        def retire(keep: torch.Tensor) -> torch.Tensor:
            """Store and drop the rows whose last token is encoded; returns the batch rows kept."""
            nonlocal mask, positions, done, seeds_left, live, length
            for row in (~keep).nonzero().flatten().tolist():
                request = live[row]
                valid = mask[row, :length].bool()
                completion = tokens[request]
                own = [(layer.keys[row][:, valid], layer.values[row][:, valid]) for layer in cache.layers]
                if shared:  # an entry holds its conversation from the first token
                    own = [
                        (torch.cat([k, keys], dim=1), torch.cat([v, values], dim=1))
                        for (k, v), (keys, values) in zip(shared_prefix["shared_prefix"], own)
                    ]
                cache_store.store(
                    conversations[request],
                    CachedPrefix(
                        prompts[request] + completion,  # every generated token was fed back, the stop token too
                        [keys.to("cpu") for keys, _ in own],  # indexing and cat made copies already
                        [values.to("cpu") for _, values in own],
                    ),
                )
                text = self.tokenizer.decode(completion, skip_special_tokens=True)
                results[request] = Generation(
                    text=_cut_at_stop(text, sampling.stop),
                    prompt_tokens=len(prompts[request]),
                    completion_tokens=len(completion),
                )
            index = keep.nonzero().flatten()
            cache.batch_select_indices(index)
            mask, positions, done, seeds_left = mask[index], positions[index], done[index], seeds_left[index]
            live = [live[row] for row in index.tolist()]
            return index

        with torch.inference_mode():
            for step in range(sampling.max_tokens + 1):
                step_mask = additive_mask(mask[:, :length], input_ids.shape[1], self.model.dtype)
                if self.lean_forward is not None:
                    logits = self.lean_forward(input_ids, step_mask, positions, cache, **shared_prefix)[:, -1, :]
                else:
                    logits = self.model(
                        input_ids=input_ids,
                        attention_mask=step_mask,
                        position_ids=positions,
                        past_key_values=cache,
                        use_cache=True,
                        logits_to_keep=1,
                        **shared_prefix,
                    ).logits[:, -1, :]
                if sampling.max_tokens == 0:  # prefill only: the prompt's keys and values are all that is wanted
                    break
                # Every finished row has now had its last token encoded.
                finished = int(done.sum())
                if finished == len(live):
                    break
                if finished >= max(1, len(live) // 4):  # retiring copies the cache: do it in bulk
                    logits = logits[retire(~done)]
                next_tokens = _sample(logits.float(), sampling, seeds_left, step)
                for row, (token, over) in enumerate(zip(next_tokens.tolist(), done.tolist())):
                    if not over:
                        tokens[live[row]].append(token)
                newly = ~done & (torch.isin(next_tokens, stops) | (step + 1 == sampling.max_tokens))
                # Finished rows ride along on pads that the mask hides until they are retired.
                input_ids = torch.where(done, torch.full_like(next_tokens, pad), next_tokens)[:, None]
                mask[:, length] = (~done).long()
                length += 1
                positions = positions[:, -1:] + 1
                done = done | newly
            retire(torch.zeros(len(live), dtype=torch.bool, device=device))
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self.model = None
        if self.prefix_cache is not None:
            self.prefix_cache.clear()

    @classmethod
    def preflight(cls, model: str = "tiny", adapter: str | None = None, **_) -> str | None:
        return missing_local_model(model) or missing_local_model(adapter, "adapter")


def fast_path_untested(model) -> str | None:
    """Why the prefix-cached path is not tested for `model` (this transformers, its model type), or None."""
    import transformers

    version = ".".join(transformers.__version__.split(".")[:2])
    if version != FAST_PATH_TRANSFORMERS:
        return f"transformers {transformers.__version__} (tested: {FAST_PATH_TRANSFORMERS}.*)"
    model_type = getattr(model.config, "model_type", None)
    if model_type not in FAST_PATH_MODEL_TYPES:
        return f"model type {model_type!r} (tested: {', '.join(FAST_PATH_MODEL_TYPES)})"
    return None


def additive_mask(mask, queries: int, dtype):
    """[rows, 1, queries, keys] float mask from a [rows, keys] 0/1 mask, causal over the last `queries` keys.

    Passed 4-D, transformers uses it as it is instead of building one every decoding step.
    """
    import torch

    allowed = mask.bool()[:, None, None, :]
    if queries > 1:
        keys = mask.shape[1]
        allowed = allowed & (
            torch.arange(keys, device=mask.device) <= torch.arange(keys - queries, keys, device=mask.device)[:, None]
        )
    blocked = torch.finfo(dtype).min  # not -inf: a query that sees nothing gets no NaN
    return torch.zeros(allowed.shape, dtype=dtype, device=mask.device).masked_fill_(~allowed, blocked)


def _sample(logits, sampling: Sampling, seeds, step: int, candidates: int = 256, head: int = 16):
    """Next token per row: greedy at temperature 0, else temperature and nucleus (top-p) sampling.

    The draw is an exponential race (the token of the nucleus with the largest probability over an Exp(1)
    variate, which is a draw from the nucleus renormalised), with each variate a function of the row's seed,
    `step` (the token's position in its completion) and the token's id (`race_variates`). So a row's token
    depends on nothing else in the batch, and two models drawing with one seed pick the same token wherever
    their distributions are close. The nucleus is looked for among each row's `head` most likely tokens,
    then its `candidates` most likely, then all tokens, whichever first holds it (a top-k is much cheaper than
    sorting the vocabulary); the token drawn does not depend on which.
    """
    import torch

    if sampling.temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p >= 1.0:
        every = torch.arange(probs.shape[-1], device=probs.device).expand_as(probs)
        return (probs / race_variates(seeds, step, every)).argmax(dim=-1)
    tokens = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    rows = torch.arange(probs.shape[0], device=probs.device)
    for width in (head, candidates, probs.shape[-1]):
        subset = probs if len(rows) == probs.shape[0] else probs[rows]
        top, order = subset.topk(min(width, probs.shape[-1]), dim=-1)
        held = top.sum(dim=-1) >= sampling.top_p
        if width >= probs.shape[-1]:
            held[:] = True  # rounding can leave the whole vocabulary a hair under top_p
        nucleus = top.masked_fill(top.cumsum(dim=-1) - top > sampling.top_p, 0.0)[held]
        order = order[held]
        tokens[rows[held]] = order.gather(
            -1, (nucleus / race_variates(seeds[rows[held]], step, order)).argmax(-1, keepdim=True)
        ).squeeze(-1)
        rows = rows[~held]
        if not len(rows):
            break
    return tokens


# 32-bit integer mixing (xor-shift, multiply): products stay below 2**59, so int64 tensors never overflow
_MIX = 0x45D9F3B
_LOW32 = 0xFFFFFFFF


def _mix32(x):
    x = x ^ (x >> 16)
    x = (x * _MIX) & _LOW32
    x = x ^ (x >> 16)
    x = (x * _MIX) & _LOW32
    return x ^ (x >> 16)


def race_variates(seeds, step: int, token_ids):
    """Exp(1) variates [rows, k] for `token_ids` [rows, k]: a hash of (row seed, step, token id), not a generator.

    A generator's draws depend on how many were drawn before, hence on the batch; a hash of the three does not.
    """
    import torch

    h = _mix32(_mix32(seeds.long() & _LOW32) ^ step)[:, None]
    h = _mix32(h ^ token_ids.long())
    uniform = (h.double() + 0.5) / 2**32  # in (0, 1): no zero variate
    return (-torch.log(uniform)).float()


def _cut_at_stop(text: str, stop: list[str]) -> str:
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text
