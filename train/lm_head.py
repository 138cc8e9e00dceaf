"""The LM head that TRL's SFT and DPO trainers score tokens with, chosen by device and vocabulary size.

TRL 1.16 patches every model it trains with a fused LM head (`trl.trainer.utils.add_fused_lm_head`): the
per-token log-probabilities come from a tiled kernel that never holds the (tokens, vocabulary) logits, which is
what a GPU with a 150k-token vocabulary needs. TRL has no option to turn it off. Off CUDA the kernel runs as torch
tiles, scores every position (prompt and padding too, to keep tile shapes fixed), and its hand-written backward
recomputes each tile; with the tiny model's 2,173-token vocabulary that costs more than the whole transformer.

`plain` gives the same outputs (`FusedCausalLMOutput`: log-probabilities, entropy, top-1, mean logit, the loss)
from ordinary logits of the positions that have a label, with autograd's backward. `auto` picks it where it was
measured to win (benchmarks/results/train_throughput.md): off CUDA, up to PLAIN_HEAD_MAX_VOCAB tokens. On CUDA,
and for large vocabularies anywhere, TRL's fused head stays.
"""

from __future__ import annotations

import types

import torch

from train.shared_prefix import rows_hidden, shared_prefix_hidden

# the largest vocabulary for which the plain head is chosen off CUDA (see the measured rule in the module docstring)
PLAIN_HEAD_MAX_VOCAB = 65_536
LM_HEADS = ("auto", "fused", "plain")


def choose_lm_head(setting: str, device: torch.device | str, vocab_size: int) -> str:
    """`fused` or `plain` for a run's `lm_head` setting (auto, fused, plain) on `device`."""
    if setting not in LM_HEADS:
        raise ValueError(f"lm_head={setting!r} must be one of {', '.join(LM_HEADS)}")
    if setting != "auto":
        return setting
    on_cuda = torch.device(device).type == "cuda"
    return "plain" if not on_cuda and vocab_size <= PLAIN_HEAD_MAX_VOCAB else "fused"


# the config fields by which TRL's fused head scales or caps the logits (trl.trainer.utils.add_fused_lm_head)
SCALED_HEAD_FIELDS = (
    "logit_scale",
    "output_multiplier",
    "lm_head_multiplier",
    "logits_scaling",
    "final_logit_softcapping",
)


def _scaled_head_fields(model) -> list[str]:
    """The fields that scale or cap this model's logits; the plain head supports plain heads (Llama, Qwen,
    Mistral) and leaves the others to TRL."""
    config = model.config.get_text_config()
    return [name for name in SCALED_HEAD_FIELDS if getattr(config, name, None) not in (None, 1.0)]


def add_plain_lm_head(model, temperature: float = 1.0) -> None:
    """Replace the fused head TRL added to `model` (called after the trainer is built, on the model TRL
    patched: the base model under PEFT) by the plain one. Calls without `fused_lm_head=True` go to TRL's
    forward, which passes them to the model's own."""
    from trl.trainer.utils import FusedCausalLMOutput

    scaled = _scaled_head_fields(model)
    if scaled:
        raise ValueError(
            f"lm_head=plain supports LM heads without logit scaling or soft-capping; {type(model).__name__} "
            f"sets {', '.join(scaled)}: use lm_head=fused or lm_head=auto"
        )
    trl_forward = model.forward

    def _plain_forward(
        self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None, **kwargs
    ):
        if not fused_lm_head or getattr(self.config.get_text_config(), "output_router_logits", False):
            # the model's own forward, or TRL's head for mixture-of-experts models (their router loss lives there)
            return trl_forward(
                *args,
                fused_lm_head=fused_lm_head,
                labels=labels,
                shift_labels=shift_labels,
                num_items_in_batch=num_items_in_batch,
                **kwargs,
            )
        kwargs["use_cache"] = False
        shared = getattr(self, "_debtgpt_shared_prefix", False)  # train/shared_prefix.py
        if args:
            hidden = self.base_model(*args, **kwargs).last_hidden_state
        elif shared and getattr(self, "_debtgpt_paired", False):  # DPO's [chosen; rejected] rows
            hidden = shared_prefix_hidden(self.base_model, **kwargs)
        else:
            hidden = rows_hidden(self.base_model, batch_prefix=shared, **kwargs)
        if shift_labels is None:
            hidden, labels = hidden[:, :-1], labels[:, 1:]
        else:
            labels = shift_labels
        head = self.get_output_embeddings()
        hidden, labels = hidden.to(head.weight.device), labels.to(head.weight.device)
        mask = labels != -100
        targets = labels[mask]
        # only the labelled positions are projected: the (tokens, vocabulary) logits of those alone
        logits = head(hidden[mask]).float() / temperature
        log_z = torch.logsumexp(logits, dim=-1)
        log_p = logits - log_z.unsqueeze(-1)
        token_log_p = log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        entropy = -(log_p.exp() * log_p).sum(-1)
        with torch.no_grad():
            log_sum_sq = torch.logsumexp(2 * log_p, dim=-1)
            mean_logits = logits.mean(-1)
            is_top1 = logits.argmax(-1) == targets

        def spread(values):  # back to (batch, positions), zero where no label; stays connected to the model
            return values.new_zeros(mask.shape).masked_scatter(mask, values)

        log_probs = spread(token_log_p)
        loss = -log_probs.sum() / (mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch)
        return FusedCausalLMOutput(
            loss=loss,
            log_probs=log_probs,
            entropy=spread(entropy),
            log_sum_sq_probs=spread(log_sum_sq),
            mean_logits=spread(mean_logits),
            is_top1=spread(is_top1),
            label_mask=mask,
        )

    model.forward = types.MethodType(_plain_forward, model)


def use_lm_head(trainer, setting: str, shared_prefix: bool = False, paired: bool = False) -> str:
    """Apply the run's `lm_head` setting to an SFT/DPO trainer once TRL has added its fused head (and to a
    separate reference model); returns the head in use, for the log. A second call changes nothing.
    `shared_prefix`: the plain head runs the batch's common start once and, for `paired` batches (DPO's
    [chosen; rejected] rows), each pair's common prefix once (train/shared_prefix.py)."""
    from peft import PeftModel

    model = trainer.model
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    if not getattr(base, "_debtgpt_lm_head", None):
        _apply_lm_head(trainer, base, setting, shared_prefix, paired)
    described = base._debtgpt_lm_head
    if described == "plain" and base._debtgpt_shared_prefix:
        described += f", shared prefix (the batch's start{' and each pair' if base._debtgpt_paired else ''})"
    return described


def _apply_lm_head(trainer, base, setting: str, shared_prefix: bool, paired: bool) -> None:
    head = choose_lm_head(setting, base.device, base.get_output_embeddings().weight.shape[0])
    if head == "plain" and setting == "auto" and _scaled_head_fields(base):
        head = "fused"
    if head == "plain":
        for scorer in (base, getattr(trainer, "ref_model", None)):
            if scorer is not None:
                add_plain_lm_head(scorer)
                scorer._debtgpt_shared_prefix, scorer._debtgpt_paired = shared_prefix, paired
    base._debtgpt_lm_head = head
