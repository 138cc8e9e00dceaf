"""Tokens that rows of a training batch share, run once: the batch's common start, and each DPO pair's prompt.

The batch's common start. Every collector row opens with the same system prompt (the information card comes last,
so about 530 tokens are the same for every debtor). `batch_prefix_hidden` runs those tokens once for the batch,
keeps their keys and values (with their autograd graph) and runs each row's remaining tokens on top of them, as
generation's prefix cache does. Causal attention gives the common start the same hidden states in every row, so
the outputs, the loss and its gradients are those of the rows run whole (tests/test_lm_head.py). SFT's rows, the
recipe's chosen rows alone and DPO's packed pairs all go through it.

A pair's prompt. TRL runs a pair as two rows, prompt + chosen and prompt + rejected, so the prompt (about 1,020
tokens of the recipe's pairs, against 82 chosen and 92 rejected) goes through the model twice, in training and in
the reference precompute. `shared_prefix_hidden` makes each pair one packed row: the chosen row whole, then the
rejected row from where it parts from the chosen one, at its own positions, attending to the shared prefix and to
itself only (a 4D mask). The rejected row's hidden states are the shared ones up to where the rows part and the
packed ones after.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence
from trl.data_utils import common_prefix_length

# below this many common tokens the second forward call costs more than the rows it saves (a guess on the safe side:
# the recipe's batches share about 530)
MIN_BATCH_PREFIX = 64


def common_start(input_ids: torch.Tensor) -> int:
    """How many leading tokens every row of `input_ids` has in common."""
    differs = (input_ids != input_ids[:1]).any(0)
    return int(differs.int().argmax()) if bool(differs.any()) else input_ids.shape[1]


def batch_prefix_hidden(base_model, input_ids, attention_mask, prefix: int, position_ids=None, **kwargs):
    """The last hidden states of `input_ids` (its `attention_mask` a 2D padding mask or a 4D mask, True = attends),
    with its first `prefix` tokens, the same in every row and attending only to each other causally, run once.
    A short prefix, a single row or gradient checkpointing (which cannot keep a cache) run the rows whole."""
    rows = input_ids.shape[0]
    kwargs = {k: v for k, v in kwargs.items() if k not in ("use_cache", "past_key_values")}

    def whole():
        return base_model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs
        ).last_hidden_state

    if prefix < MIN_BATCH_PREFIX or rows < 2 or getattr(base_model, "is_gradient_checkpointing", False):
        return whole()
    head = base_model(
        input_ids=input_ids[:1, :prefix],
        position_ids=None if position_ids is None else position_ids[:1, :prefix],
        use_cache=True,
        **kwargs,
    )
    cache = head.past_key_values
    if any(getattr(layer, "is_sliding", False) for layer in getattr(cache, "layers", [])):
        # a sliding-window layer keeps only its window of keys: the rows would not see the whole prefix
        return whole()
    cache.batch_repeat_interleave(rows)
    tail = base_model(
        input_ids=input_ids[:, prefix:],
        # a 4D mask gives the tail's queries against every key; a 2D one stays whole (keys: prefix + tail)
        attention_mask=attention_mask[:, :, prefix:] if attention_mask.dim() == 4 else attention_mask,
        position_ids=None if position_ids is None else position_ids[:, prefix:],
        past_key_values=cache,
        use_cache=True,
        **kwargs,
    ).last_hidden_state
    return torch.cat([head.last_hidden_state.expand(rows, -1, -1), tail], dim=1)


def rows_hidden(base_model, input_ids, attention_mask=None, position_ids=None, batch_prefix: bool = True, **kwargs):
    """The last hidden states of a right-padded batch (SFT's rows, DPO's chosen rows), its common start run once
    with `batch_prefix`."""
    prefix = 0
    if batch_prefix and attention_mask is not None and attention_mask.dim() == 2:
        lengths = attention_mask.sum(-1)
        prefix = min(common_start(input_ids), int(lengths.min()) - 1)  # each row keeps a token of its own
        if not bool(attention_mask[:, :prefix].all()):
            prefix = 0  # left padding: the common start is padding
        if position_ids is not None and not bool((position_ids[:, :prefix] == position_ids[:1, :prefix]).all()):
            prefix = 0  # packed sequences (padding-free): the rows' starts are not the same tokens at the same places
    return batch_prefix_hidden(base_model, input_ids, attention_mask, prefix, position_ids, **kwargs)


def packed_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor):
    """The packed rows of a right-padded [chosen; rejected] batch: ids, positions, the 4D mask (True = attends),
    and per pair (chosen length, rejected length, shared prefix)."""
    pairs = input_ids.shape[0] // 2
    lengths = attention_mask.sum(-1).tolist()
    spans = []
    for b in range(pairs):
        chosen, rejected = lengths[b], lengths[pairs + b]
        shared = common_prefix_length(input_ids[b, :chosen].tolist(), input_ids[pairs + b, :rejected].tolist())
        spans.append((chosen, rejected, shared))
    width = max(chosen + rejected - shared for chosen, rejected, shared in spans)
    ids = input_ids.new_zeros(pairs, width)
    positions = torch.zeros(pairs, width, dtype=torch.long, device=input_ids.device)
    mask = torch.zeros(pairs, 1, width, width, dtype=torch.bool, device=input_ids.device)
    causal = torch.ones(width, width, dtype=torch.bool, device=input_ids.device).tril()
    for b, (chosen, rejected, shared) in enumerate(spans):
        own = rejected - shared  # the rejected row's tokens after the shared prefix
        ids[b, :chosen] = input_ids[b, :chosen]
        ids[b, chosen : chosen + own] = input_ids[pairs + b, shared:rejected]
        positions[b, :chosen] = torch.arange(chosen)
        positions[b, chosen : chosen + own] = torch.arange(shared, rejected)
        mask[b, 0, :chosen, :chosen] = causal[:chosen, :chosen]
        mask[b, 0, chosen : chosen + own, :shared] = True
        mask[b, 0, chosen : chosen + own, chosen : chosen + own] = causal[:own, :own]
        padding = torch.arange(chosen + own, width, device=input_ids.device)
        mask[b, 0, padding, padding] = True  # a padding row attends to itself: no row of the softmax is empty
    return ids, positions, mask, spans


def shared_prefix_hidden(
    base_model, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch_prefix=True, **kwargs
):
    """The last hidden states of a right-padded [chosen; rejected] batch, shaped like it (zeros at padding), with
    each pair's common prefix run once, and the start common to all pairs once for the batch (`batch_prefix`)."""
    ids, positions, mask, spans = packed_rows(input_ids, attention_mask)
    # the batch's common start must lie within every pair's shared prefix, which all of a pair's tokens attend to
    prefix = min(common_start(ids), *(shared for _, _, shared in spans)) if batch_prefix else 0
    if base_model.config._attn_implementation != "sdpa":  # eager and the others add the mask to the scores
        mask = torch.zeros(mask.shape, dtype=base_model.dtype, device=mask.device).masked_fill(
            ~mask, torch.finfo(base_model.dtype).min
        )
    kwargs.pop("position_ids", None)
    packed = batch_prefix_hidden(base_model, ids, mask, prefix, positions, **kwargs)
    chosen_rows = [packed[b, :chosen] for b, (chosen, _, _) in enumerate(spans)]
    rejected_rows = [
        torch.cat([packed[b, :shared], packed[b, chosen : chosen + rejected - shared]])
        for b, (chosen, rejected, shared) in enumerate(spans)
    ]
    hidden = pad_sequence(chosen_rows + rejected_rows, batch_first=True)
    missing = input_ids.shape[1] - hidden.shape[1]  # the batch's own padding beyond its longest row
    return torch.nn.functional.pad(hidden, (0, 0, 0, missing)) if missing else hidden[:, : input_ids.shape[1]]
