"""The training workload tests and benchmarks share: data/pairs-shaped folders made from scripted dialogues.

The data stage's formats (data/pairs/sft: `messages`; data/pairs/dpo_*: `prompt`, `chosen`, `rejected`): the expert
collector's dialogues are the SFT set; at each expert collector turn, the expert's turn is chosen and the conceder's
turn at the same index is rejected (turn level), and whole expert vs conceder dialogues make the dialogue-level pairs.
"""

from __future__ import annotations

import json
from pathlib import Path

SFT_SET, TURN_PAIRS, DIALOGUE_PAIRS = "sft", "dpo_turn", "dpo_dialogue"


def sft_run_config(tiny_model_dir, pairs_dir, root, **settings):
    """The defaults `make sft` runs, on the workload's SFT set, the tiny model and `root`, wandb off; `settings`
    on top."""
    from omegaconf import OmegaConf

    from pipeline.config import stage_config

    base = dict(
        data=str(Path(pairs_dir) / SFT_SET),
        checkpoints_dir=str(root),
        model={"name": str(tiny_model_dir)},
        wandb={"mode": "disabled"},
        trl={"disable_tqdm": True},
    )
    return OmegaConf.merge(stage_config("sft"), base, settings)


def scripted_trajectories(n_scenarios: int, seed: int, collector: str, max_turns: int = 12):
    from debtgpt.agents.scripted import ScriptedDebtor, make_scripted_collector
    from debtgpt.dialogue import Scenario
    from debtgpt.personas import generate_personas
    from debtgpt.records import generate_records
    from debtgpt.runner import DialogueJob, run_dialogues

    records = generate_records(n_scenarios, seed)
    jobs = [
        DialogueJob(Scenario(id=r.id, record=r, persona=p)) for r, p in zip(records, generate_personas(records, seed))
    ]
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
        dialogue_pairs.append(
            {"prompt": opening, "chosen": chat[2:], "rejected": worst_chat[2:], "margin": 1.0, **scenario}
        )
        worst_turns = [m for m in worst_chat if m["role"] == "assistant"]
        for k, message in enumerate(chat):
            index = sum(m["role"] == "assistant" for m in chat[:k])
            if message["role"] == "assistant" and index < len(worst_turns) and worst_turns[index] != message:
                turn_pairs.append(
                    {
                        "prompt": chat[:k],
                        "chosen": [message],
                        "rejected": [worst_turns[index]],
                        "margin": 1.0,
                        **scenario,
                    }
                )
    for name, rows in ((SFT_SET, sft), (TURN_PAIRS, turn_pairs), (DIALOGUE_PAIRS, dialogue_pairs)):
        folder = out_dir / name
        Dataset.from_list(rows).save_to_disk(str(folder))
        card = {
            "name": name,
            "rows": len(rows),
            "scenarios": n_scenarios,
            "seed": seed,
            "source": "tests/workload.py",
        }
        (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out_dir
