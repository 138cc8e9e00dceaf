"""How much batching buys the hf backend: dialogues per second, batched across dialogues vs one at a time.

Both runs play the same dialogues (LLM collector vs LLM debtor, tiny model, short turns) through the
dialogue runner; only the runner's batch size differs. Untrained weights rarely stop early, so both runs
generate about the same number of tokens.

    python -m benchmarks.hf_generation [--dialogues 32] [--batch-size 32] [--max-turns 4] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import json
import time

from debtgpt.backends.base import Backend, Sampling


class TimedBackend(Backend):
    """Wraps a backend and adds up the seconds spent inside generate()."""

    def __init__(self, inner: Backend) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self.seconds = 0.0

    def generate(self, conversations, sampling, seeds=None):
        started = time.perf_counter()
        generations = self.inner.generate(conversations, sampling, seeds)
        self.seconds += time.perf_counter() - started
        self.usage.add(generations)
        return generations


def scenarios_for(n: int, seed: int = 0):
    from debtgpt.dialogue import Scenario
    from debtgpt.personas import generate_personas
    from debtgpt.records import generate_records

    records = generate_records(n, seed)
    return [Scenario(id=r.id, record=r, persona=p) for r, p in zip(records, generate_personas(records, seed))]


def time_dialogues(
    backend: Backend, scenarios, *, batch_size: int, max_turns: int, max_tokens: int, seed: int = 0
) -> dict:
    """Play every scenario once through the runner; wall time, time inside generation, tokens."""
    from debtgpt.agents.llm_collector import LLMCollector
    from debtgpt.agents.llm_debtor import LLMDebtor
    from debtgpt.runner import DialogueJob, run_dialogues

    timed = TimedBackend(backend)
    sampling = Sampling(temperature=0.7, max_tokens=max_tokens)
    collector, debtor = LLMCollector(timed, sampling=sampling), LLMDebtor(timed, sampling=sampling)
    started = time.perf_counter()
    trajectories = run_dialogues(
        [DialogueJob(s) for s in scenarios], collector, debtor, seed=seed, max_turns=max_turns, batch_size=batch_size
    )
    seconds = time.perf_counter() - started
    return {
        "dialogues": len(trajectories),
        "turns": sum(len(t.turns) for t in trajectories),
        "seconds": round(seconds, 3),
        "generation_seconds": round(timed.seconds, 3),
        "share_outside_generation": round(1 - timed.seconds / seconds, 4),
        "prompt_tokens": timed.usage.prompt_tokens,
        "completion_tokens": timed.usage.completion_tokens,
        "dialogues_per_s": round(len(trajectories) / seconds, 3),
        "tokens_per_s": round(timed.usage.completion_tokens / seconds, 1),
    }


def bench_hf(
    model: str = "tiny",
    *,
    dialogues: int = 32,
    batch_size: int = 32,
    max_turns: int = 4,
    max_tokens: int = 96,
    device: str = "cpu",
) -> dict:
    """Dialogues per second with the runner batching `batch_size` dialogues, and one at a time."""
    from debtgpt.backends.hf import HFBackend

    backend = HFBackend(model, device=device, batch_size=batch_size)
    scenarios = scenarios_for(dialogues)
    time_dialogues(
        backend, scenarios[:2], batch_size=2, max_turns=2, max_tokens=4
    )  # warm-up: first calls pay one-off costs
    batched = time_dialogues(backend, scenarios, batch_size=batch_size, max_turns=max_turns, max_tokens=max_tokens)
    sequential = time_dialogues(backend, scenarios, batch_size=1, max_turns=max_turns, max_tokens=max_tokens)
    return {
        "model": model,
        "device": device,
        "batch_size": batch_size,
        "batched": batched,
        "sequential": sequential,
        "speedup": round(batched["dialogues_per_s"] / sequential["dialogues_per_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--dialogues", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-turns", type=int, default=4)
    parser.add_argument(
        "--max-tokens", type=int, default=96, help="a JSON turn of the trained collector is 60-100 tokens"
    )
    args = parser.parse_args()
    result = bench_hf(
        args.model,
        dialogues=args.dialogues,
        batch_size=args.batch_size,
        max_turns=args.max_turns,
        max_tokens=args.max_tokens,
    )
    print(json.dumps(result, indent=2))
    print(
        f"batched {result['batched']['dialogues_per_s']} dlg/s, "
        f"one at a time {result['sequential']['dialogues_per_s']} dlg/s: "
        f"{result['speedup']}x"
    )


if __name__ == "__main__":
    main()
