"""SFT and DPO training throughput (tokens per second) on the CPU with the tiny model, and DPO with the loss cut to the
decision with and without the rejected rows run.

    python -m benchmarks.train_throughput [--steps 8] [--scenarios 24]

The workload is made here from scripted dialogues, in the data stage's formats (data/pairs/sft: `messages`;
data/pairs/dpo_*: `prompt`, `chosen`, `rejected`): the expert collector's dialogues are the SFT set; at each
expert collector turn, the expert's turn is chosen and the conceder's turn at the same index is rejected
(turn level), and whole expert vs conceder dialogues make the dialogue-level pairs. Tests use it as fixtures.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

SFT_SET, TURN_PAIRS, DIALOGUE_PAIRS = "sft", "dpo_turn", "dpo_dialogue"


def scripted_trajectories(n_scenarios: int, seed: int, collector: str, max_turns: int = 12):
    from debtgpt.agents.scripted import ScriptedDebtor, make_scripted_collector
    from debtgpt.dialogue import Scenario
    from debtgpt.personas import generate_personas
    from debtgpt.records import generate_records
    from debtgpt.runner import DialogueJob, run_dialogues

    records = generate_records(n_scenarios, seed)
    jobs = [DialogueJob(Scenario(id=r.id, record=r, persona=p)) for r, p in zip(records, generate_personas(records, seed))]
    return run_dialogues(jobs, make_scripted_collector(collector), ScriptedDebtor(), seed=seed, max_turns=max_turns)


def collector_chat(trajectory, turns) -> list[dict]:
    """The collector's chat over `turns` of a dialogue: system card, call opening, then the turns."""
    from debtgpt.agents.prompting import CALL_OPENING, collector_system_prompt, history_messages

    return [
        {"role": "system", "content": collector_system_prompt(trajectory.scenario.record.public())},
        {"role": "user", "content": CALL_OPENING},
        *history_messages(turns, "collector"),
    ]


def write_workload(out_dir: str | Path, n_scenarios: int = 16, seed: int = 0) -> Path:
    """data/pairs-shaped folders (sft, dpo_turn, dpo_dialogue) with a card.json each; returns out_dir."""
    from datasets import Dataset

    out_dir = Path(out_dir)
    expert = scripted_trajectories(n_scenarios, seed, "expert")
    conceder = scripted_trajectories(n_scenarios, seed, "conceder")
    sft, turn_pairs, dialogue_pairs = [], [], []
    for best, worst in zip(expert, conceder):
        chat = collector_chat(best, best.turns)
        while chat[-1]["role"] != "assistant":  # SFT targets end on the collector's own turn
            chat.pop()
        sft.append({"messages": chat})
        worst_chat = collector_chat(worst, worst.turns)
        opening = chat[:2]
        scenario = {"scenario_id": best.scenario.id}  # DPO holds out whole scenarios by it
        dialogue_pairs.append({"prompt": opening, "chosen": chat[2:], "rejected": worst_chat[2:], "margin": 1.0, **scenario})
        worst_turns = [m for m in worst_chat if m["role"] == "assistant"]
        for k, message in enumerate(chat):
            index = sum(m["role"] == "assistant" for m in chat[:k])
            if message["role"] == "assistant" and index < len(worst_turns) and worst_turns[index] != message:
                turn_pairs.append({"prompt": chat[:k], "chosen": [message], "rejected": [worst_turns[index]], "margin": 1.0, **scenario})
    for name, rows in ((SFT_SET, sft), (TURN_PAIRS, turn_pairs), (DIALOGUE_PAIRS, dialogue_pairs)):
        folder = out_dir / name
        Dataset.from_list(rows).save_to_disk(str(folder))
        card = {"name": name, "rows": len(rows), "scenarios": n_scenarios, "seed": seed, "source": "benchmarks.train_throughput"}
        (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out_dir


def run_config(kind: str, data_dir: Path, out_root: Path, steps: int, batch_size: int, **overrides):
    """A typed run config for the tiny model, as `python -m train.<kind>` would build it."""
    from omegaconf import OmegaConf

    from debtgpt.config import stage_config

    base = dict(run=f"bench-{kind}", checkpoints_dir=str(out_root), max_steps=steps, batch_size=batch_size,
                save_steps=10**6, logging_steps=1, wandb={"mode": "disabled"},
                trl={"include_num_input_tokens_seen": "non_padding", "save_strategy": "no", "disable_tqdm": True})
    inputs = dict(data=str(data_dir / SFT_SET)) if kind == "sft" else dict(pairs_dir=str(data_dir))
    return OmegaConf.merge(stage_config(kind), base, inputs, overrides)


def train_throughput(steps: int = 8, batch_size: int = 4, n_scenarios: int = 16) -> dict:
    """Tokens per second of our SFT and DPO settings on the tiny model (CPU, fp32)."""
    os.environ.setdefault("WANDB_MODE", "disabled")
    from train.dpo import train_dpo
    from train.sft import train_sft

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_workload(root / "pairs", n_scenarios)
        # decision_tokens=[24, 1] and [24, 0] process the same batches; with no rejected token in the loss ([24, 0])
        # the rejected rows are not run (train.collector_turns.ChosenRowsOnly)
        runs = (("sft", train_sft, {}), ("dpo", train_dpo, {}),
                ("dpo_decision_rejected_run", train_dpo, {"decision_tokens": [24, 1]}),
                ("dpo_decision", train_dpo, {"decision_tokens": [24, 0]}))
        for kind, train, options in runs:
            # no held-out pairs: with logging_steps=1 DPO would evaluate them every step, inside the timed run
            extra = {"init_from": str(root / "bench-sft" / "final"), "heldout_fraction": 0.0, "run": f"bench-{kind}",
                     **options} if kind != "sft" else {}
            cfg = run_config("dpo" if kind != "sft" else kind, data, root, steps, batch_size, **extra)
            start = time.perf_counter()
            out = train(cfg, root / cfg.run)
            seconds = time.perf_counter() - start
            tokens = out["trainer"].state.num_input_tokens_seen
            runtime = out["metrics"]["train_runtime"]
            results[kind] = {
                "tokens": int(tokens), "steps": out["global_step"], "batch_size": batch_size, "max_length": out["max_length"],
                "train_seconds": round(runtime, 3), "wall_seconds": round(seconds, 3),
                "tokens_per_second": round(tokens / runtime, 1),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--scenarios", type=int, default=16)
    args = parser.parse_args()
    results = train_throughput(args.steps, args.batch_size, args.scenarios)
    for kind, row in results.items():
        print(f"{kind}: {row['tokens_per_second']:.0f} tokens/s ({row['tokens']} tokens in {row['train_seconds']:.1f} s, "
              f"{row['steps']} steps of {row['batch_size']}, max_length {row['max_length']})")
    whole, chosen_only = results["dpo_decision_rejected_run"], results["dpo_decision"]
    print(f"dpo with decision_tokens: the rejected rows skipped ([24, 0]) take {chosen_only['train_seconds'] / whole['train_seconds']:.2f}x "
          f"the time of running them ([24, 1]) on the same {whole['steps']} batches")


if __name__ == "__main__":
    main()
