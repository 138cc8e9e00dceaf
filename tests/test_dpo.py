"""DPO on the tiny model: LoRA on the SFT model, which is its own reference with the adapters off."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf
from trl.trainer.dpo_trainer import DataCollatorForPreference

from pipeline.config import stage_config
from train.dpo import train_dpo

from workload import write_workload


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    return write_workload(tmp_path_factory.mktemp("pairs"), n_scenarios=2)


def dpo_config(sft_model, pairs_dir, root, **overrides):
    cfg = stage_config("dpo")  # the defaults `make dpo` runs, on the workload's turn-level pairs
    base = dict(
        level="turn",
        decision_tokens=None,
        eval_steps=None,
        precompute_ref_log_probs=False,
        pairs_dir=str(pairs_dir),
        init_from=str(sft_model),
        checkpoints_dir=str(root),
        model={"name": "tiny"},
        per_device_train_batch_size=1,
        max_steps=1,
        logging_steps=1,
        lora={"r": 4, "alpha": 8},
        wandb={"mode": "disabled"},
        trl={"disable_tqdm": True},
    )
    return OmegaConf.merge(cfg, base, overrides)


def test_dpo_with_lora_keeps_no_reference_copy_and_merges_final(tiny_model_dir, pairs_dir, tmp_path):
    out = train_dpo(dpo_config(tiny_model_dir, pairs_dir, tmp_path, beta=0.2), tmp_path / "dpo")
    trainer = out["trainer"]
    assert trainer.ref_model is None  # the reference is the SFT model with its adapters off
    assert trainer.args.beta == 0.2 and not trainer.args.bf16
    # the recipe: DPO's sigmoid loss beside an NLL term on the chosen turn (sft_weight=1)
    assert trainer.args.loss_type == ["sigmoid", "sft"] and trainer.args.loss_weights == [1.0, 1.0]
    assert trainer.args.eval_steps == 1  # the held-out pairs at every logging step unless eval_steps says otherwise
    final = tmp_path / "dpo" / "final"
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
    assert json.loads((final / "train_card.json").read_text())["examples"] == out["examples"]


def test_dialogue_level_pairs_and_an_adapter_that_names_its_base(tiny_model_dir, pairs_dir, tmp_path):
    out = train_dpo(
        dpo_config(tiny_model_dir, pairs_dir, tmp_path, level="dialogue", final_weights="adapter", heldout_fraction=0),
        tmp_path / "dpo",
    )
    final = tmp_path / "dpo" / "final"
    assert out["examples"] == 2  # one pair per scenario
    assert type(out["trainer"]).__name__ == "CollectorTurnsDPOTrainer"  # the debtor's replies are masked out
    adapter = json.loads((final / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(tiny_model_dir) and (final / "tokenizer.json").is_file()


def test_an_unknown_level_or_a_missing_sft_model_fails_early(tiny_model_dir, pairs_dir, tmp_path):
    with pytest.raises(
        ValueError, match=r"Invalid value 'episode', expected one of \[turn, dialogue, accept\]\s+full_key: level"
    ):
        dpo_config(tiny_model_dir, pairs_dir, tmp_path, level="episode")  # the schema refuses it before any work
    with pytest.raises(FileNotFoundError, match="make sft"):
        train_dpo(dpo_config(tmp_path / "nothing", pairs_dir, tmp_path), tmp_path / "dpo")


def test_the_reference_scored_in_order_of_length_is_the_reference_scored_in_order(
    tiny_model_dir, pairs_dir, tmp_path, monkeypatch
):
    from trl import DPOTrainer

    import train.collector_turns
    from train.dpo import dpo_trainer

    cfg = dpo_config(
        tiny_model_dir, pairs_dir, tmp_path, precompute_ref_log_probs=True, heldout_fraction=0, decision_tokens=[8, 8]
    )
    ours, _ = dpo_trainer(cfg, tmp_path / "sorted")

    class InOrder(train.collector_turns.CollectorTurnsDPOTrainer):
        def _precompute_ref_logps(self, dataset, name, batch_size):
            self.use_lm_head()
            return DPOTrainer._precompute_ref_logps(self, dataset, name, batch_size)

    monkeypatch.setattr(train.collector_turns, "CollectorTurnsDPOTrainer", InOrder)
    plain, _ = dpo_trainer(cfg, tmp_path / "in-order")
    assert type(plain) is InOrder
    rows = ours.train_dataset.to_list()
    lengths = [len(r["prompt_ids"]) + max(len(r["chosen_ids"]), len(r["rejected_ids"])) for r in rows]
    assert lengths != sorted(lengths)  # the pairs are not in order of length already
    assert rows == plain.train_dataset.to_list()  # the same pairs in the same order, with the same log-probs


def test_only_the_collectors_tokens_enter_the_dpo_loss(tiny_model_dir):
    from trl.data_utils import common_prefix_length

    from train.collector_turns import CollectorTurnsCollator, add_loss_masks
    from train.model_loading import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir), False)
    prompt = [{"role": "system", "content": "You collect a debt."}, {"role": "user", "content": "Hello?"}]
    chosen = [
        {"role": "assistant", "content": "OFFER A"},
        {"role": "user", "content": "Fine. [Accepts your proposal]"},
        {"role": "assistant", "content": "THANKS"},
    ]
    rejected = [{"role": "assistant", "content": "OFFER B"}, {"role": "user", "content": "No. [Hangs up]"}]

    def ids(messages, generation_prompt=False):
        return tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, add_generation_prompt=generation_prompt
        )["input_ids"]

    example = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    full = {side: ids(prompt + example[side]) for side in ("chosen", "rejected")}
    prompt_len = min(common_prefix_length(ids(prompt, True), full[s]) for s in full)  # as TRL tokenizes
    example |= {"prompt_ids": full["chosen"][:prompt_len]} | {f"{s}_ids": full[s][prompt_len:] for s in full}
    example |= add_loss_masks(example, tokenizer)

    def kept(side):
        return tokenizer.decode([t for t, m in zip(example[f"{side}_ids"], example[f"{side}_loss_mask"]) if m])

    assert kept("chosen").replace("\n", "") == "OFFER A<|im_end|>THANKS<|im_end|>"  # no debtor word, no role header
    assert kept("rejected").replace("\n", "") == "OFFER B<|im_end|>"
    turn = {"prompt": prompt, "chosen": chosen[:1], "rejected": rejected[:1]}
    turn_full = ids(prompt + chosen[:1])
    turn |= {
        "prompt_ids": turn_full[:prompt_len],
        "chosen_ids": turn_full[prompt_len:],
        "rejected_ids": ids(prompt + rejected[:1])[prompt_len:],
    }
    assert all(add_loss_masks(turn, tokenizer)["chosen_loss_mask"])  # one collector turn: the whole completion, as TRL

    batch = CollectorTurnsCollator(pad_token_id=tokenizer.pad_token_id)([example, example])
    assert (
        batch["completion_mask"].sum(dim=1).tolist()
        == [sum(example["chosen_loss_mask"])] * 2 + [sum(example["rejected_loss_mask"])] * 2
    )
    plain = DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id)([example, example])
    assert (batch["completion_mask"] <= plain["completion_mask"]).all() and batch["input_ids"].equal(
        plain["input_ids"]
    )


def test_one_turns_mask_from_one_rendering_equals_the_mask_from_rendering_around_it(tiny_model_dir):
    from train.collector_turns import collector_token_mask, rendered_spans_mask
    from train.model_loading import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir), False)
    system = {"role": "system", "content": "You collect a debt. Reply in JSON."}
    prompts = [
        [system, {"role": "user", "content": "Hello?"}],
        [system, {"role": "user", "content": "Who is this?"}, {"role": "assistant", "content": '{"action": "non"}'}]
        + [{"role": "user", "content": "I can pay 10% less."}],
    ]
    turns = [[{"role": "assistant", "content": '{"thoughts": "Evidence: none.", "action": "accept"}'}]]
    for prompt in prompts:
        for turn in turns:
            full = tokenizer.apply_chat_template(prompt + turn, tokenize=True, return_dict=True)["input_ids"]
            alone = len(
                tokenizer.apply_chat_template(prompt, tokenize=True, return_dict=True, add_generation_prompt=True)[
                    "input_ids"
                ]
            )
            # TRL cuts the prompt shorter where the other side of the pair parts earlier: that tail is no turn's
            for prompt_len in (alone, alone - 3):
                args = (tokenizer, prompt, turn, full[:prompt_len], full[prompt_len:])
                mask = collector_token_mask(*args)
                assert mask == rendered_spans_mask(tokenizer, prompt, turn, full, prompt_len)
                assert mask[: alone - prompt_len] == [0] * (alone - prompt_len) and all(mask[alone - prompt_len :])


@pytest.mark.slow
def test_decision_tokens_keep_only_where_the_two_sides_part(tiny_model_dir, pairs_dir, tmp_path):
    from trl.data_utils import common_prefix_length

    from train.collector_turns import add_loss_masks
    from train.model_loading import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir), False)
    prompt = [{"role": "system", "content": "You collect a debt."}, {"role": "user", "content": "I can pay 10% less."}]
    chosen = [
        {"role": "assistant", "content": '{"thoughts": "Their proposal is inside the envelope.", "action": "accept"}'}
    ]
    rejected = [{"role": "assistant", "content": '{"thoughts": "Their terms need evidence.", "action": "non"}'}]
    prompt_ids = tokenizer.apply_chat_template(prompt, tokenize=True, return_dict=True, add_generation_prompt=True)[
        "input_ids"
    ]

    def completion(messages):
        return tokenizer.apply_chat_template(prompt + messages, tokenize=True, return_dict=True)["input_ids"][
            len(prompt_ids) :
        ]

    example = {
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "prompt_ids": prompt_ids,
        "chosen_ids": completion(chosen),
        "rejected_ids": completion(rejected),
    }
    parted = common_prefix_length(example["chosen_ids"], example["rejected_ids"])
    masks = add_loss_masks(example, tokenizer, decision_tokens=[4, 0])
    assert [p for p, m in enumerate(masks["chosen_loss_mask"]) if m] == list(range(parted, parted + 4))
    assert not any(masks["rejected_loss_mask"])  # the rejected side out of the loss
    assert tokenizer.decode(example["chosen_ids"][parted : parted + 4]).startswith(" proposal")

    # the option trains through the masking trainer even with the debtor unmasked; bad counts fail before any work
    out = train_dpo(
        dpo_config(tiny_model_dir, pairs_dir, tmp_path, decision_tokens=[4, 0], mask_debtor_turns=False),
        tmp_path / "dpo",
    )
    assert type(out["trainer"]).__name__ == "CollectorTurnsDPOTrainer" and out["trainer"].state.global_step == 1
    # the rejected rows, out of the loss, are not run: the same loss, gradient, reference log-probs and metrics
    import torch
    from trl import DPOTrainer

    from train.collector_turns import ChosenRowsOnly

    trainer = out["trainer"]
    trainer.model.eval()  # no LoRA dropout, so two passes can agree
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))

    def one_pass(compute_loss):
        trainer.model.zero_grad()
        loss = compute_loss(trainer.model, batch)
        loss.backward()
        grads = [p.grad.clone() for p in trainer.model.parameters() if p.requires_grad]
        return loss.detach(), grads, {k: v[-1] for k, v in trainer._metrics["eval"].items()}

    skipped, whole = one_pass(trainer.compute_loss), one_pass(lambda m, b: DPOTrainer.compute_loss(trainer, m, b))
    assert torch.allclose(skipped[0], whole[0], atol=1e-6) and skipped[2] == pytest.approx(whole[2], abs=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(skipped[1], whole[1])) and any(
        g.abs().sum() > 0 for g in whole[1]
    )
    with torch.no_grad():
        for a, b in zip(
            trainer.compute_ref_log_probs(trainer.model, batch),
            DPOTrainer.compute_ref_log_probs(trainer, trainer.model, batch),
        ):
            assert torch.allclose(a, b, atol=1e-5)
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    with pytest.raises(ValueError, match="rejected row has tokens in the loss"):
        ChosenRowsOnly(trainer.model)(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=torch.ones_like(labels),
            fused_lm_head=True,
        )
    for bad, message in (([0, 0], "not both 0"), ([4], r"must be \[chosen, rejected\]")):
        with pytest.raises(ValueError, match=message):
            train_dpo(dpo_config(tiny_model_dir, pairs_dir, tmp_path, decision_tokens=bad), tmp_path / "bad")
    with pytest.raises(ValueError, match="eval_steps=0 must be an integer of at least 1"):
        train_dpo(dpo_config(tiny_model_dir, pairs_dir, tmp_path, eval_steps=0), tmp_path / "bad")
    assert (
        train_dpo(dpo_config(tiny_model_dir, pairs_dir, tmp_path, eval_steps=5), tmp_path / "spaced")[
            "trainer"
        ].args.eval_steps
        == 5
    )
    with pytest.raises(ValueError, match="level=dialogue"):
        train_dpo(
            dpo_config(tiny_model_dir, pairs_dir, tmp_path, decision_tokens=[4, 0], level="dialogue"), tmp_path / "bad"
        )


def test_scoring_the_held_out_pairs_more_often_changes_no_trained_weight(tiny_model_dir, pairs_dir, tmp_path):
    """eval_steps only spaces the held-out curves (the recipe scores them every 200 steps to save time): the trained
    weights are the same at any spacing."""
    import torch

    trained = []
    for spacing in (1, 4):
        cfg = dpo_config(tiny_model_dir, pairs_dir, tmp_path, max_steps=4, eval_steps=spacing, heldout_fraction=0.5)
        trainer = train_dpo(cfg, tmp_path / f"every-{spacing}")["trainer"]
        evaluations = [row for row in trainer.state.log_history if "eval_loss" in row]
        assert len(evaluations) >= (4 if spacing == 1 else 1)
        trained.append({n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora" in n})
    assert trained[0] and all(torch.equal(trained[0][n], trained[1][n]) for n in trained[0])
    assert any(p.abs().sum() > 0 for n, p in trained[0].items() if "lora_B" in n)  # it trained
