"""DPO's [chosen; rejected] batch with each pair's common prefix run once.

TRL runs a pair as two rows, prompt + chosen and prompt + rejected, so the prompt (about 1,065 tokens of the
recipe's pairs, against 75 chosen and 87 rejected) goes through the model twice, in training and in the reference
precompute. Here each pair becomes one packed row: the chosen row whole, then the rejected row from where it parts
from the chosen one, at its own positions, attending to the shared prefix and to itself only (a 4D mask). Causal
attention makes a prefix's hidden states the same whichever row it ends, so the rejected row's hidden states are
the shared ones up to where the rows part and the packed ones after; the loss, its gradients and the logged
metrics are those of the two rows run apart (tests/test_lm_head.py), at about 54 % of the tokens.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence
from trl.data_utils import common_prefix_length


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


def shared_prefix_hidden(base_model, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs):
    """The last hidden states of a right-padded [chosen; rejected] batch, shaped like it (zeros at padding), with
    each pair's common prefix run once."""
    ids, positions, mask, spans = packed_rows(input_ids, attention_mask)
    if base_model.config._attn_implementation != "sdpa":  # eager and the others add the mask to the scores
        mask = torch.zeros(mask.shape, dtype=base_model.dtype, device=mask.device).masked_fill(
            ~mask, torch.finfo(base_model.dtype).min
        )
    kwargs.pop("position_ids", None)
    packed = base_model(input_ids=ids, attention_mask=mask, position_ids=positions, **kwargs).last_hidden_state
    chosen_rows = [packed[b, :chosen] for b, (chosen, _, _) in enumerate(spans)]
    rejected_rows = [
        torch.cat([packed[b, :shared], packed[b, chosen : chosen + rejected - shared]])
        for b, (chosen, rejected, shared) in enumerate(spans)
    ]
    hidden = pad_sequence(chosen_rows + rejected_rows, batch_first=True)
    missing = input_ids.shape[1] - hidden.shape[1]  # the batch's own padding beyond its longest row
    return torch.nn.functional.pad(hidden, (0, 0, 0, missing)) if missing else hidden[:, : input_ids.shape[1]]
