"""The `vllm` backend: vLLM's offline engine, one `LLM.chat` call per batch.

Every request gets its own seed, guided JSON (`StructuredOutputsParams(json=schema)`, vLLM >= 0.12) when a
schema is given, and the LoRA adapter when one is configured. Prefix caching is on: every turn of a
dialogue shares the system prompt and the history before it. vllm is imported only here, at construction,
so the rest of the project (and every test) runs without it; `engine` accepts any object with vLLM's
`LLM.chat` surface.
"""

from __future__ import annotations

from debtgpt.backends.base import Backend, Conversation, Generation, Sampling, missing_local_model


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(
        self,
        model: str = "tiny",
        *,
        adapter: str | None = None,
        max_lora_rank: int = 64,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        dtype: str = "auto",
        guided_json: bool = True,
        seed: int = 0,
        engine=None,
    ) -> None:
        """`adapter` is a PEFT LoRA folder served on top of `model`; `engine` replaces the vLLM engine (tests)."""
        super().__init__()
        from debtgpt.tiny import resolve_model

        self.model = resolve_model(model)
        self.adapter = adapter
        self.guided_json = guided_json
        if engine is None:
            from vllm import LLM

            options = dict(
                model=self.model,
                tensor_parallel_size=tensor_parallel_size,
                gpu_memory_utilization=gpu_memory_utilization,
                enable_prefix_caching=True,
                enable_lora=adapter is not None,
                dtype=dtype,
                seed=seed,
            )
            if adapter is not None:
                options["max_lora_rank"] = max_lora_rank
            if max_model_len is not None:
                options["max_model_len"] = max_model_len
            engine = LLM(**options)
        self.engine = engine
        self._lora_request = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            self._lora_request = LoRARequest("adapter", 1, adapter)

    def _sampling_params(self, sampling: Sampling, seed: int | None):
        from vllm import SamplingParams

        options = dict(
            temperature=sampling.temperature,
            top_p=sampling.top_p if sampling.temperature > 0 else 1.0,
            max_tokens=sampling.max_tokens,  # vLLM's own default (16) would cut every turn
            seed=seed,
            stop=list(sampling.stop) or None,
        )
        if self.guided_json and sampling.json_schema is not None:
            from vllm.sampling_params import StructuredOutputsParams

            options["structured_outputs"] = StructuredOutputsParams(json=sampling.json_schema)
        return SamplingParams(**options)

    def generate(
        self, conversations: list[Conversation], sampling: Sampling, seeds: list[int] | None = None
    ) -> list[Generation]:
        if not conversations:
            return []
        if seeds is not None and len(seeds) != len(conversations):
            raise ValueError(f"got {len(seeds)} seeds for {len(conversations)} conversations")
        params = [
            self._sampling_params(sampling, seeds[i] if seeds is not None else None) for i in range(len(conversations))
        ]
        generations = self._chat(conversations, params)
        self.usage.add(generations)
        return generations

    def _chat(self, conversations: list[Conversation], params: list) -> list[Generation]:
        """One `LLM.chat` call. The engine validates every prompt before it generates and rejects the whole
        batch with a ValueError when one is too long (over max_model_len); the halves are then retried, so only
        the rejected conversations come back as errors."""
        try:
            outputs = self.engine.chat(
                conversations, sampling_params=params, use_tqdm=False, lora_request=self._lora_request
            )
        except ValueError as exc:  # vLLM's validation errors are ValueErrors
            if len(conversations) == 1:
                return [Generation(text="", error=f"vLLM rejected the prompt: {' '.join(str(exc).split())[:300]}")]
            half = len(conversations) // 2
            return self._chat(conversations[:half], params[:half]) + self._chat(conversations[half:], params[half:])
        generations = []
        for output in outputs:
            completion = output.outputs[0] if output.outputs else None
            if completion is None:
                generations.append(Generation(text="", error="vLLM returned no completion"))
                continue
            generations.append(
                Generation(
                    text=completion.text,
                    prompt_tokens=len(output.prompt_token_ids or ()),
                    completion_tokens=len(completion.token_ids or ()),
                )
            )
        return generations

    def close(self) -> None:
        self.engine = None

    @classmethod
    def preflight(cls, model: str = "tiny", adapter: str | None = None, engine=None, **_) -> str | None:
        import importlib.util

        if engine is None and importlib.util.find_spec("vllm") is None:
            return 'the vllm package is not installed; pip install -e ".[vllm]" on a GPU machine'
        return missing_local_model(model) or missing_local_model(adapter, "adapter")
