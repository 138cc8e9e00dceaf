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


def fused_then_plain(trainer, shared_prefix: bool = False):
    """The same batch through TRL's fused head, then through the plain head on the same weights (running each
    pair's common prefix once, with `shared_prefix`)."""
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
    base._debtgpt_shared_prefix = shared_prefix
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


def test_sft_plain_head_equals_trls_fused_head(tiny_model_dir, pairs_dir, tmp_path):
    from train.sft import train_sft

    cfg = sft_config(tiny_model_dir, pairs_dir, tmp_path, logging_steps=1, lm_head="fused")
    fused, plain = fused_then_plain(train_sft(cfg, tmp_path / "sft")["trainer"])
    assert {"entropy", "mean_token_accuracy", "num_tokens"} <= fused[2].keys()
    assert_same(fused, plain)


@pytest.mark.parametrize(
    ("decision_tokens", "shared_prefix"),
    [(None, False), ([24, 0], False), ([160, 160], True), (None, True)],
    ids=["both-sides", "chosen-rows-only", "recipe-shared-prefix", "both-sides-shared-prefix"],
)
def test_dpo_plain_head_equals_trls_fused_head(tiny_model_dir, pairs_dir, tmp_path, decision_tokens, shared_prefix):
    from train.dpo import train_dpo

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
    fused, plain = fused_then_plain(trainer, shared_prefix)
    assert {"rewards/margins", "logps/chosen", "logits/chosen", "entropy", "mean_token_accuracy"} <= fused[2].keys()
    assert_same(fused, plain)


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
