"""The hf, vllm and scripted backends behind one interface, and the registry that builds them."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import pytest

from debtgpt.backends import BACKEND_KINDS, Sampling, make_backend
from debtgpt.backends.scripted import ScriptedBackend
from debtgpt.backends.vllm import VLLMBackend

GREEDY = Sampling(temperature=0.0, max_tokens=12)


def chat(text: str) -> list[dict]:
    return [{"role": "system", "content": "You are a debt collector."}, {"role": "user", "content": text}]


def test_unknown_kind_names_the_allowed_kinds():
    with pytest.raises(ValueError, match="hf, vllm, openai"):
        make_backend({"kind": "tgi"})
    assert BACKEND_KINDS == ("hf", "vllm", "openai")


def test_hf_batch_matches_one_at_a_time(hf_backend):
    # Left padding and the attention mask must make batching invisible to greedy decoding.
    conversations = [
        chat("Hello?"),
        chat("I lost my job last month and cannot pay anything before my next payday."),
        chat("No."),
    ]
    batched = hf_backend.generate(conversations, GREEDY)
    single = [hf_backend.generate([c], GREEDY)[0] for c in conversations]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(0 < g.completion_tokens <= GREEDY.max_tokens and g.prompt_tokens > 10 for g in batched)
    assert batched[1].prompt_tokens > batched[2].prompt_tokens


def test_hf_counts_usage_and_seeds_sampling(hf_backend):
    before = hf_backend.usage.requests
    sampling = Sampling(temperature=1.0, max_tokens=8)
    first = hf_backend.generate([chat("Hi")] * 2, sampling, seeds=[5, 6])
    again = hf_backend.generate([chat("Hi")] * 2, sampling, seeds=[5, 6])
    assert [g.text for g in first] == [g.text for g in again]
    assert hf_backend.usage.requests == before + 4


def test_hf_prompt_over_context_is_an_error_not_a_crash(hf_backend):
    too_long = chat("pay " * 5000)
    short, long_ = hf_backend.generate([chat("Hi"), too_long], GREEDY)
    assert short.error is None and long_.error is not None and "context" in long_.error


def test_hf_stop_strings_cut_the_text(hf_backend):
    text = hf_backend.generate([chat("Hi")], Sampling(temperature=0.0, max_tokens=12))[0].text
    assert len(text) > 2
    cut = hf_backend.generate([chat("Hi")], Sampling(temperature=0.0, max_tokens=12, stop=[text[2:4]]))[0].text
    assert cut == text[: text.find(text[2:4])]


def test_scripted_backend_answers_from_a_function():
    backend = ScriptedBackend(lambda conversation, seed: f"{conversation[-1]['content']}/{seed}")
    out = backend.generate([chat("a"), chat("b")], GREEDY, seeds=[1, 2])
    assert [g.text for g in out] == ["a/1", "b/2"] and backend.usage.requests == 2


# --- vllm, against a stand-in engine with vLLM's surface -------------------------------------------


@dataclass
class FakeCompletion:
    text: str
    token_ids: list[int]


@dataclass
class FakeRequestOutput:
    prompt_token_ids: list[int]
    outputs: list[FakeCompletion]


@dataclass
class FakeLLM:
    calls: list = field(default_factory=list)

    def chat(self, messages, sampling_params=None, use_tqdm=True, lora_request=None):
        self.calls.append((messages, sampling_params, lora_request))
        return [
            FakeRequestOutput(
                prompt_token_ids=list(range(len(m[-1]["content"]))),
                outputs=[FakeCompletion(f"reply {p.seed}", [1, 2, 3])],
            )
            for m, p in zip(messages, sampling_params)
        ]


@pytest.fixture
def fake_vllm(monkeypatch):
    """A `vllm` module with SamplingParams, StructuredOutputsParams and LoRARequest that record their arguments."""

    class Params:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    module = types.ModuleType("vllm")
    module.SamplingParams = type("SamplingParams", (Params,), {})
    module.LLM = lambda **kwargs: pytest.fail("the test injects its engine; LLM must not be built")
    sampling_params = types.ModuleType("vllm.sampling_params")
    sampling_params.StructuredOutputsParams = type("StructuredOutputsParams", (Params,), {})
    lora = types.ModuleType("vllm.lora")
    lora_request = types.ModuleType("vllm.lora.request")
    lora_request.LoRARequest = lambda name, int_id, path: ("lora", name, int_id, path)
    for name, mod in {
        "vllm": module,
        "vllm.sampling_params": sampling_params,
        "vllm.lora": lora,
        "vllm.lora.request": lora_request,
    }.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return module


def test_vllm_sends_per_request_seeds_guided_json_and_the_adapter(fake_vllm):
    engine = FakeLLM()
    backend = VLLMBackend("Qwen/Qwen2.5-0.5B-Instruct", adapter="checkpoints/sft", engine=engine)
    schema = {"type": "object"}
    out = backend.generate([chat("a"), chat("bbb")], Sampling(max_tokens=200, json_schema=schema), seeds=[11, 12])
    assert [g.text for g in out] == ["reply 11", "reply 12"]
    assert [(g.prompt_tokens, g.completion_tokens) for g in out] == [(1, 3), (3, 3)]
    messages, params, lora = engine.calls[0]
    assert messages == [chat("a"), chat("bbb")]
    assert [p.seed for p in params] == [11, 12] and all(p.max_tokens == 200 for p in params)
    assert params[0].structured_outputs.json == schema
    assert lora == ("lora", "adapter", 1, "checkpoints/sft")
    assert backend.usage.requests == 2 and backend.usage.completion_tokens == 6


def test_vllm_without_schema_or_adapter(fake_vllm):
    engine = FakeLLM()
    backend = VLLMBackend("some/model", engine=engine, guided_json=True)
    backend.generate([chat("a")], Sampling(max_tokens=5))
    _, params, lora = engine.calls[0]
    assert not hasattr(params[0], "structured_outputs") and lora is None
    assert backend.generate([], GREEDY) == []


@dataclass
class LengthCheckingLLM(FakeLLM):
    """Rejects a batch with one prompt over max_model_len as vLLM does: a ValueError before anything runs."""

    max_model_len: int = 50

    def chat(self, messages, sampling_params=None, use_tqdm=True, lora_request=None):
        for m in messages:
            length = sum(len(turn["content"]) for turn in m)  # one token per character in this stand-in
            if length > self.max_model_len:
                raise ValueError(
                    f"The decoder prompt (length {length}) is longer than the maximum model length of "
                    f"{self.max_model_len}. "
                    "Make sure that `max_model_len` is no smaller than the number of text tokens."
                )
        return super().chat(messages, sampling_params, use_tqdm, lora_request)


def test_vllm_prompt_over_max_model_len_is_an_error_of_that_conversation_only(fake_vllm):
    engine = LengthCheckingLLM()
    backend = VLLMBackend("some/model", engine=engine)
    conversations = [chat("a"), chat("pay " * 100), chat("bb"), chat("ccc"), chat("x" * 51)]
    out = backend.generate(conversations, GREEDY, seeds=[1, 2, 3, 4, 5])
    assert [g.error is None for g in out] == [True, False, True, True, False]
    assert [g.text for g in out if g.error is None] == ["reply 1", "reply 3", "reply 4"]
    assert "maximum model length" in out[1].error and out[1].text == ""
    assert len(engine.calls) < 2 * len(conversations)  # halves are retried, not the whole batch again and again


def test_vllm_agent_batch_with_an_over_long_dialogue_finishes_the_others(fake_vllm):
    from debtgpt.agents.llm_collector import LLMCollector
    from debtgpt.agents.scripted import ScriptedDebtor
    from debtgpt.dialogue import OUTCOME_ERROR
    from debtgpt.runner import DialogueJob, run_dialogues
    from debtgpt.scenarios import build_scenarios

    scenarios = build_scenarios(6, seed=2)
    long_case = scenarios[2].id

    backend = VLLMBackend("some/model", engine=LengthCheckingLLM(max_model_len=20_000))
    collector = LLMCollector(backend, name="vllm-llm", guided_json=False)
    original = collector.messages
    # one dialogue's prompt is far over the limit, as a debtor's very long turn would make it
    collector.messages = lambda view: [
        dict(m, content=m["content"] + ("x" * 50_000 if view.key.startswith(long_case + "/") and i == 0 else ""))
        for i, m in enumerate(original(view))
    ]
    trajectories = run_dialogues([DialogueJob(s) for s in scenarios], collector, ScriptedDebtor(), max_turns=4)
    assert [t.outcome == OUTCOME_ERROR for t in trajectories] == [s.id == long_case for s in scenarios]
    assert "maximum model length" in trajectories[2].error


def test_hf_loads_a_peft_adapter(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    adapted = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapted.save_pretrained(tmp_path / "adapter")
    plain = make_backend({"kind": "hf", "model": str(tiny_model_dir), "device": "cpu"})
    with_adapter = make_backend(
        {"kind": "hf", "model": str(tiny_model_dir), "device": "cpu", "adapter": str(tmp_path / "adapter")}
    )
    conversations = [chat("Hello?"), chat("I cannot pay.")]
    assert [g.text for g in with_adapter.generate(conversations, GREEDY)] != [
        g.text for g in plain.generate(conversations, GREEDY)
    ]


def test_hf_prefix_cache_and_shared_prefix_decode_like_model_generate(tiny_model_dir):
    # Three turns of growing negotiations whose system prompts share their first ~500 tokens: the path that keeps
    # each dialogue's KV cache and attends the shared prefix once must decode what model.generate decodes, and
    # must actually reuse both. (The random tiny model's greedy text depends little on context; the arithmetic of
    # cascade attention is pinned by the test below.)
    from debtgpt.agents.prompting import collector_system_prompt
    from debtgpt.backends.hf import MIN_SHARED_PREFIX, HFBackend

    from conftest import make_scenarios

    cached = HFBackend(str(tiny_model_dir), device="cpu", batch_size=8, prefix_cache_gib=0.5)
    plain = HFBackend(str(tiny_model_dir), device="cpu", batch_size=8, prefix_cache_gib=0)
    greedy = Sampling(temperature=0.0, max_tokens=24)
    conversations = [
        [
            {"role": "system", "content": collector_system_prompt(s.record.public())},
            {"role": "user", "content": "Hello?"},
        ]
        for s in make_scenarios(4)
    ]
    for turn in range(3):
        fast, slow = cached.generate(conversations, greedy), plain.generate(conversations, greedy)
        assert [g.text for g in fast] == [g.text for g in slow]
        for k, (conversation, generation) in enumerate(zip(conversations, fast)):
            conversation += [
                {"role": "assistant", "content": generation.text},
                {"role": "user", "content": "I lost my job." + " Really." * k},
            ]
        conversations = conversations[: 4 - turn]  # batches shrink as dialogues end
    assert cached.cascade
    (shared,) = cached._shared_layers
    assert len(shared) >= MIN_SHARED_PREFIX
    assert cached.prefix_cache.hits > 0 and cached.prefix_cache.reused_tokens > cached.prefix_cache.prefilled_tokens


@pytest.mark.parametrize("untested", ["version", "model_type"])
def test_an_untested_transformers_or_model_type_falls_back_to_generate_with_one_warning(
    tiny_model_dir, monkeypatch, caplog, untested
):
    import logging

    import transformers

    from debtgpt.backends.hf import HFBackend

    if untested == "version":
        monkeypatch.setattr(transformers, "__version__", "5.99.0")
    plain = HFBackend(str(tiny_model_dir), device="cpu", batch_size=4, prefix_cache_gib=0)  # model.generate
    if untested == "model_type":  # a model type whose forward the fast path does not copy
        monkeypatch.setattr(plain.model.config, "model_type", "mistral")
    with caplog.at_level(logging.WARNING, logger="debtgpt.backends.hf"):
        backend = HFBackend(model_obj=plain.model, tokenizer=plain.tokenizer, device="cpu", prefix_cache_gib=0.5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "using model.generate" in warnings[0]
    assert ("5.99.0" if untested == "version" else "'mistral'") in warnings[0]
    assert backend.prefix_cache is None and backend.lean_forward is None and not backend.cascade
    conversation = [[{"role": "system", "content": "You collect a debt."}, {"role": "user", "content": "Hello?"}]]
    greedy = Sampling(temperature=0.0, max_tokens=12)
    assert backend.generate(conversation, greedy)[0].text == plain.generate(conversation, greedy)[0].text


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_cascade_attention_equals_attention_over_the_concatenated_keys(kv_heads):
    import torch

    from debtgpt.backends.prefix_cache import cascade_attention

    torch.manual_seed(0)
    rows, heads, queries, dim, shared, own = 3, 4, 2, 8, 6, 5
    query = torch.randn(rows, heads, queries, dim)
    keys, values = torch.randn(rows, kv_heads, own, dim), torch.randn(rows, kv_heads, own, dim)
    shared_keys, shared_values = torch.randn(kv_heads, shared, dim), torch.randn(kv_heads, shared, dim)
    allowed = torch.rand(rows, 1, queries, own) > 0.3
    mask = torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)
    layer = types.SimpleNamespace(layer_idx=1)
    output, _ = cascade_attention(
        layer, query, keys, values, mask, scaling=0.5, shared_prefix=[None, (shared_keys, shared_values)]
    )

    all_keys = torch.cat([shared_keys.expand(rows, -1, -1, -1), keys], dim=2).repeat_interleave(
        heads // kv_heads, dim=1
    )
    all_values = torch.cat([shared_values.expand(rows, -1, -1, -1), values], dim=2).repeat_interleave(
        heads // kv_heads, dim=1
    )
    all_mask = torch.cat([torch.zeros(rows, 1, queries, shared), mask], dim=-1)
    expected = torch.softmax(query @ all_keys.transpose(-1, -2) * 0.5 + all_mask, dim=-1) @ all_values
    assert output.shape == (rows, queries, heads, dim)
    torch.testing.assert_close(output, expected.transpose(1, 2), rtol=1e-5, atol=1e-5)


def _small_decoder(kind: str):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    torch.manual_seed(0)
    common = dict(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    config = LlamaConfig(**common) if kind == "llama" else Qwen2Config(**common)  # Qwen2: q/k/v biases
    return AutoModelForCausalLM.from_config(config).eval()


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_lean_forward_gives_the_models_own_logits_bit_for_bit(kind):
    # The decoding loop's forward without transformers' module machinery: same operations, same order, so the
    # prefix-cached path samples exactly what it sampled through the model's own forward (prefill and decode,
    # with cascade attention over a shared prefix and holes in the mask).
    import torch

    from debtgpt.backends.hf import additive_mask
    from debtgpt.backends.lean_forward import LeanForward
    from debtgpt.backends.prefix_cache import preallocated_cache, use_cascade_attention

    model = _small_decoder(kind)
    assert use_cascade_attention(model)
    lean = LeanForward.of(model)
    assert lean is not None
    rows, past_length, shared_length = 3, 5, 7
    past = [(torch.randn(rows, 2, past_length, 8), torch.randn(rows, 2, past_length, 8)) for _ in range(2)]
    shared = [(torch.randn(2, shared_length, 8), torch.randn(2, shared_length, 8)) for _ in range(2)]
    caches = [preallocated_cache(past, 16), preallocated_cache(past, 16)]
    mask = torch.ones(rows, 16, dtype=torch.long)
    mask[0, :2] = 0  # a row cached shorter than the others: left pads
    input_ids = torch.randint(0, 64, (rows, 4))
    positions = torch.arange(4).repeat(rows, 1) + shared_length + past_length
    with torch.inference_mode():
        for step in range(2):  # prefill of 4 tokens, then one decoding step
            length = caches[0].get_seq_length() + input_ids.shape[1]
            step_mask = additive_mask(mask[:, :length], input_ids.shape[1], model.dtype)
            own = model(
                input_ids=input_ids,
                attention_mask=step_mask,
                position_ids=positions,
                past_key_values=caches[0],
                use_cache=True,
                logits_to_keep=1,
                shared_prefix=shared,
            ).logits
            ours = lean(input_ids, step_mask, positions, caches[1], shared_prefix=shared)
            assert torch.equal(ours, own)
            input_ids, positions = own[:, -1].argmax(-1, keepdim=True), positions[:, -1:] + 1


def test_lean_forward_declines_what_it_does_not_copy():
    from transformers import AutoModelForCausalLM, Qwen2Config

    from debtgpt.backends.lean_forward import LeanForward

    sliding = AutoModelForCausalLM.from_config(
        Qwen2Config(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            use_sliding_window=True,
            sliding_window=8,
            max_window_layers=1,
        )
    )
    assert not LeanForward.supports(sliding)
    eager = _small_decoder("llama")
    eager.set_attn_implementation("eager")  # not in transformers' attention registry: the model's own forward stays
    assert LeanForward.supports(eager) and LeanForward.of(eager) is None


def test_a_rows_token_depends_on_its_own_seed_not_on_its_batch_or_where_its_nucleus_was_found():
    # Peaked and flat rows alike (flat ones need the full vocabulary); the same token alone, in the batch, and with
    # the nucleus looked for among 2 and 4 tokens first instead of 16 and 256.
    import torch

    from debtgpt.backends.hf import _sample

    for trial in range(30):
        torch.manual_seed(trial)
        rows = int(torch.randint(1, 40, (1,)))
        logits = torch.randn(rows, 2178) * float(torch.rand(1)) * 8
        seeds = torch.randint(2**31, (rows,))
        for temperature, top_p in ((0.8, 0.95), (0.3, 0.95), (2.0, 0.99), (0.8, 1.0)):
            sampling = Sampling(temperature=temperature, top_p=top_p, max_tokens=4)
            batched = _sample(logits, sampling, seeds, 3)
            alone = torch.cat([_sample(logits[i : i + 1], sampling, seeds[i : i + 1], 3) for i in range(rows)])
            assert torch.equal(batched, alone)
            assert torch.equal(batched, _sample(logits, sampling, seeds, 3, candidates=4, head=2))


def test_the_race_draws_from_the_renormalised_nucleus():
    # 40,000 seeds on one distribution: the nucleus of top_p 0.9 is the three likeliest tokens, drawn in proportion
    # to their probabilities; another step gives other draws with the same frequencies.
    import torch

    from debtgpt.backends.hf import _sample

    probs = torch.tensor([0.5, 0.3, 0.15, 0.04] + [0.01 / 60] * 60)
    logits = probs.log().expand(40_000, -1)
    sampling = Sampling(temperature=1.0, top_p=0.9, max_tokens=4)
    first, second = (_sample(logits, sampling, torch.arange(40_000), step) for step in (0, 1))
    for tokens in (first, second):
        share = torch.bincount(tokens, minlength=64).double() / len(tokens)
        assert share[3:].sum() == 0
        torch.testing.assert_close(
            share[:3], torch.tensor([0.5, 0.3, 0.15], dtype=torch.double) / 0.95, atol=0.01, rtol=0
        )
    assert (first != second).double().mean() > 0.4


def test_hf_requests_sample_from_their_own_seeds_whatever_the_batch(tiny_model_dir):
    # The Backend contract (`seeds` gives each request its own seed): each request's text is the same generated
    # alone or among others, in whichever order; another seed gives another text.
    from debtgpt.agents.prompting import collector_system_prompt
    from debtgpt.backends.hf import HFBackend

    from conftest import make_scenarios

    hot = Sampling(temperature=1.0, top_p=0.95, max_tokens=24)
    conversations = [
        [
            {"role": "system", "content": collector_system_prompt(s.record.public())},
            {"role": "user", "content": "Hello?" * (i + 1)},
        ]
        for i, s in enumerate(make_scenarios(4))
    ]
    seeds = [11, 22, 33, 44]

    def fresh():
        return HFBackend(str(tiny_model_dir), device="cpu", batch_size=8, prefix_cache_gib=0.5)

    together = [g.text for g in fresh().generate(conversations, hot, seeds)]
    backwards = [g.text for g in fresh().generate(conversations[::-1], hot, seeds[::-1])][::-1]
    alone = [fresh().generate([c], hot, [s])[0].text for c, s in zip(conversations, seeds)]
    assert together == backwards == alone
    assert [g.text for g in fresh().generate(conversations, hot, [s + 1 for s in seeds])] != together


def test_cascade_attention_is_only_used_on_the_cpu():
    # cascade_attention runs torch's CPU flash kernel: a model on another device keeps its own attention (sdpa).
    import torch

    from debtgpt.backends.prefix_cache import CASCADE_ATTENTION, use_cascade_attention

    with torch.device("meta"):
        elsewhere = _small_decoder("llama")
    assert not use_cascade_attention(elsewhere) and elsewhere.config._attn_implementation != CASCADE_ATTENTION
    assert use_cascade_attention(_small_decoder("llama"))
