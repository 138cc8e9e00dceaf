"""The plain LM head (train/lm_head.py) gives TRL's fused head's loss, gradients and logged metrics on the same
batch, for SFT and for DPO (both sides run, and the recipe's chosen rows only), and the rule picks it where it was
measured."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from pipeline.config import stage_config
from train.lm_head import PLAIN_HEAD_MAX_VOCAB, add_plain_lm_head, choose_lm_head

from workload import sft_run_config, write_workload


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    return write_workload(tmp_path_factory.mktemp("pairs"), n_scenarios=2)


def one_pass(trainer, batch, compute_loss):
    """Loss, the gradient of every trained parameter and the metrics that pass logs."""
    trainer.model.zero_grad()
    trainer._metrics["train"].clear()
    trainer._total_train_tokens = 0  # SFT's num_tokens counts up over passes
    loss = compute_loss(trainer.model, batch)
    loss.backward()
    grads = [p.grad.clone() for p in trainer.model.parameters() if p.requires_grad]
    return loss.detach(), grads, {k: v[-1] for k, v in trainer._metrics["train"].items()}


def fused_then_plain(trainer, shared_prefix: bool = False, paired: bool = False):
    """The same batch through TRL's fused head, then through the plain head on the same weights (running the
    batch's common start once, with `shared_prefix`, and each pair's common prefix once if `paired`)."""
    from peft import PeftModel

    trainer.model.train()
    torch.manual_seed(0)
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    for module in trainer.model.modules():  # no dropout, so two passes can agree
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    fused = one_pass(trainer, batch, trainer.compute_loss)
    base = trainer.model.get_base_model() if isinstance(trainer.model, PeftModel) else trainer.model
    add_plain_lm_head(base)
    base._debtgpt_shared_prefix, base._debtgpt_paired = shared_prefix, paired
    return fused, one_pass(trainer, batch, trainer.compute_loss)


def assert_same(fused, plain):
    assert torch.allclose(fused[0], plain[0], atol=1e-5), (fused[0], plain[0])
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(fused[1], plain[1]))
    assert any(g.abs().sum() > 0 for g in fused[1])
    assert fused[2].keys() == plain[2].keys() and plain[2] == pytest.approx(fused[2], abs=1e-4)


def sft_config(tiny_model_dir, pairs_dir, root, **overrides):
    """One step of SFT on the workload at batch 2, as `make sft` runs it otherwise."""
    settings = {"per_device_train_batch_size": 2, "max_steps": 1, **overrides}
    return sft_run_config(tiny_model_dir, pairs_dir, root, **settings)


@pytest.fixture
def batch_prefixes(monkeypatch):
    """The common starts that batch_prefix_hidden was given, as the plain head runs."""
    from train import shared_prefix

    seen, run = [], shared_prefix.batch_prefix_hidden

    def spy(base_model, input_ids, attention_mask, prefix, *args, **kwargs):
        seen.append(prefix)
        return run(base_model, input_ids, attention_mask, prefix, *args, **kwargs)

    monkeypatch.setattr(shared_prefix, "batch_prefix_hidden", spy)
    return seen


@pytest.mark.parametrize("shared_prefix", [False, True], ids=["rows-whole", "batch-start-once"])
def test_sft_plain_head_equals_trls_fused_head(tiny_model_dir, pairs_dir, tmp_path, shared_prefix, batch_prefixes):
    from train.sft import train_sft
    from train.shared_prefix import MIN_BATCH_PREFIX

    cfg = sft_config(tiny_model_dir, pairs_dir, tmp_path, logging_steps=1, lm_head="fused")
    fused, plain = fused_then_plain(train_sft(cfg, tmp_path / "sft")["trainer"], shared_prefix)
    assert {"entropy", "mean_token_accuracy", "num_tokens"} <= fused[2].keys()
    assert_same(fused, plain)
    # the rows share the collector's system prompt: the plain head ran it once, or not at all without the setting
    assert batch_prefixes and all(p >= MIN_BATCH_PREFIX if shared_prefix else p == 0 for p in batch_prefixes)


@pytest.mark.parametrize(
    ("decision_tokens", "shared_prefix"),
    [(None, False), ([24, 0], False), ([24, 0], True), ([160, 160], True), (None, True)],
    ids=[
        "both-sides",
        "chosen-rows-only",
        "chosen-rows-only-batch-start-once",
        "recipe-shared-prefix",
        "both-sides-shared-prefix",
    ],
)
def test_dpo_plain_head_equals_trls_fused_head(
    tiny_model_dir, pairs_dir, tmp_path, decision_tokens, shared_prefix, batch_prefixes
):
    from train.dpo import train_dpo
    from train.shared_prefix import MIN_BATCH_PREFIX

    cfg = OmegaConf.merge(
        stage_config("dpo"),
        dict(
            level="turn",
            decision_tokens=decision_tokens,
            eval_steps=None,
            precompute_ref_log_probs=False,
            heldout_fraction=0.0,
            pairs_dir=str(pairs_dir),
            init_from=str(tiny_model_dir),
            checkpoints_dir=str(tmp_path),
            model={"name": "tiny"},
            per_device_train_batch_size=2,
            max_steps=1,
            logging_steps=1,
            lora={"r": 4, "alpha": 8},
            lm_head="fused",
            wandb={"mode": "disabled"},
            trl={"disable_tqdm": True},
        ),
    )
    trainer = train_dpo(cfg, tmp_path / "dpo")["trainer"]
    if shared_prefix:  # the pairs part after a common prefix longer than their prompt, in rows of unequal length
        batch = next(iter(trainer.get_train_dataloader()))
        lengths = batch["attention_mask"].sum(-1)
        assert lengths[0] != lengths[2] or lengths[1] != lengths[3]
    fused, plain = fused_then_plain(trainer, shared_prefix, paired=decision_tokens != [24, 0])
    assert {"rewards/margins", "logps/chosen", "logits/chosen", "entropy", "mean_token_accuracy"} <= fused[2].keys()
    assert_same(fused, plain)
    assert batch_prefixes and all(p >= MIN_BATCH_PREFIX if shared_prefix else p == 0 for p in batch_prefixes)


def test_the_rule_keeps_the_fused_head_on_cuda_and_for_large_vocabularies():
    assert choose_lm_head("auto", "cpu", 2_173) == "plain"
    assert choose_lm_head("auto", "cpu", PLAIN_HEAD_MAX_VOCAB + 1) == "fused"
    assert choose_lm_head("auto", "cuda", 2_173) == "fused"
    assert choose_lm_head("plain", "cuda", 151_936) == "plain"  # asked for by name: given
    with pytest.raises(ValueError, match="lm_head='chunked' must be one of auto, fused, plain"):
        choose_lm_head("chunked", "cpu", 2_173)
    with pytest.raises(Exception, match=r"Invalid value 'chunked', expected one of \[auto, fused, plain\]"):
        OmegaConf.merge(stage_config("sft"), {"lm_head": "chunked"})


@pytest.mark.gpu
def test_on_cuda_auto_keeps_trls_fused_head_and_plain_still_equals_it(tiny_model_dir, pairs_dir, tmp_path):
    from train.sft import sft_trainer

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (make test-gpu on a GPU machine)")
    cfg = sft_config(tiny_model_dir, pairs_dir, tmp_path, precision="fp32")
    trainer = sft_trainer(cfg, tmp_path / "sft")[0]
    assert trainer.model.device.type == "cuda" and trainer.model._debtgpt_lm_head == "fused"
    fused, plain = fused_then_plain(trainer)  # TRL's Triton kernel against the plain logits
    assert_same(fused, plain)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_a_batchs_common_start_run_once_gives_the_rows_hidden_states_and_gradients(tiny_model_dir, attention):
    """Right-padded rows of unequal length sharing a 100-token start, and DPO's packed pairs (4D mask): the start
    run once gives the hidden states, and the gradients through them, of the rows run whole."""
    from transformers import AutoModel

    from train.shared_prefix import rows_hidden, shared_prefix_hidden

    model = AutoModel.from_pretrained(tiny_model_dir, attn_implementation=attention)
    torch.manual_seed(0)
    start = torch.randint(10, 500, (100,))
    rows = [torch.cat([start, torch.randint(10, 500, (n,))]) for n in (30, 7, 55, 12)]
    width = max(len(r) for r in rows) + 3
    ids = torch.ones(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, 1
    # rows 0, 1 chosen, 2, 3 rejected: pair 0 parts at 110 tokens, pair 1 at the end of the start
    ids[2, :110] = ids[0, :110]
    keep = mask.bool().unsqueeze(-1)

    for run in (
        lambda batch_prefix: rows_hidden(model, ids, mask, batch_prefix=batch_prefix),
        lambda batch_prefix: shared_prefix_hidden(model, ids, mask, batch_prefix=batch_prefix),
    ):
        outputs = []
        for batch_prefix in (False, True):
            model.zero_grad()
            hidden = run(batch_prefix)
            (hidden * keep).square().sum().backward()
            grads = [p.grad.clone() for p in model.parameters()]
            outputs.append((hidden.detach() * keep, grads))
        (whole, whole_grads), (once, once_grads) = outputs
        assert torch.allclose(whole, once, atol=1e-5)
        # float sums in another order: equal within a ten-thousandth of the largest gradient
        assert all((a - b).abs().max() <= 1e-4 * a.abs().max() for a, b in zip(whole_grads, once_grads))
        assert all(g.abs().sum() > 0 for g in whole_grads)


def test_a_batch_without_a_long_common_start_runs_whole(tiny_model_dir, batch_prefixes):
    from transformers import AutoModel

    from train.shared_prefix import rows_hidden

    model = AutoModel.from_pretrained(tiny_model_dir)
    ids = torch.randint(10, 500, (3, 80))
    ids[:, :20] = ids[0, :20]
    rows_hidden(model, ids, torch.ones_like(ids))
    left_padded = ids.clone()
    left_padded[:, :70] = 1  # 70 pad tokens on the left of every row: not a start to share
    rows_hidden(model, left_padded, (left_padded != 1).long())
    assert batch_prefixes == [20, 0]
