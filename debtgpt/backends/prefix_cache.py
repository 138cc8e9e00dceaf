"""A dialogue's KV cache kept between its turns, so that each turn prefills only its new tokens.

A negotiation's prompt only grows: turn n+1 is turn n's prompt, the reply, and what the other side said.
Re-encoding the system prompt and the whole history every turn is most of the work of a small model on
the CPU. After a generation, the backend stores the keys and values of prompt + completion under the
conversation's messages; the next request finds the entry of its longest stored message prefix, keeps
the tokens both share (their longest common token prefix: an agent may re-serialise its own turn), and
prefills only the rest. Entries are evicted least recently used, within a budget of bytes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache, DynamicLayer


def message_prefix_keys(conversation: list[dict]) -> list[str]:
    """keys[k] identifies conversation[: k + 1]: a hash chain over roles and contents."""
    keys, digest = [], hashlib.blake2b(digest_size=16)
    for message in conversation:
        digest.update(message["role"].encode() + b"\x00" + message["content"].encode() + b"\x01")
        keys.append(digest.copy().hexdigest())
    return keys


@dataclass
class CachedPrefix:
    """Token ids and, per layer, their keys and values ([heads, tokens, head_dim] each)."""

    tokens: list[int]
    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))


def common_prefix_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:  # the usual case (a cached turn the next prompt starts with), compared in C
        return n
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


class PrefixCache:
    """Least-recently-used store of CachedPrefix entries keyed by a conversation's message-prefix key."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, CachedPrefix] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.reused_tokens = self.prefilled_tokens = 0

    def lookup(self, conversation: list[dict], tokens: list[int]) -> tuple[CachedPrefix | None, int]:
        """The entry of the longest stored message prefix of `conversation` and how many of `tokens` it holds.

        At least one token is always left to prefill: the model needs an input to predict from.
        """
        for key in reversed(message_prefix_keys(conversation)):
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
                shared = min(common_prefix_length(entry.tokens, tokens), len(tokens) - 1)
                if shared > 0:
                    self.hits += 1
                    return entry, shared
        self.misses += 1
        return None, 0

    def store(self, conversation: list[dict], entry: CachedPrefix) -> None:
        key = message_prefix_keys(conversation)[-1]
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes
        self.entries[key] = entry
        self.bytes += entry.nbytes
        while self.bytes > self.max_bytes and len(self.entries) > 1:
            _, evicted = self.entries.popitem(last=False)
            self.bytes -= evicted.nbytes

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


class PreallocatedLayer(DynamicLayer):
    """One layer's keys and values in a buffer sized for the whole batch up front.

    transformers' DynamicLayer concatenates every decoding step, which copies the whole cache each token;
    writing into a preallocated buffer does not. `keys` and `values` are views of the filled part.
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, capacity: int):
        super().__init__()
        rows, heads, length, dim = keys.shape
        # left uninitialised: every column is written (update) before the filled view reaches it
        self.key_buffer = keys.new_empty(rows, heads, capacity, dim)
        self.value_buffer = torch.empty_like(self.key_buffer)
        self.key_buffer[:, :, :length] = keys
        self.value_buffer[:, :, :length] = values
        self.length = length
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self._view()

    def _view(self) -> None:
        self.keys = self.key_buffer[:, :, : self.length]
        self.values = self.value_buffer[:, :, : self.length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        n = key_states.shape[-2]
        if self.length + n > self.key_buffer.shape[2]:
            raise RuntimeError(f"KV buffer of {self.key_buffer.shape[2]} tokens is full")
        self.key_buffer[:, :, self.length : self.length + n] = key_states
        self.value_buffer[:, :, self.length : self.length + n] = value_states
        self.length += n
        self._view()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.key_buffer, self.value_buffer = self.key_buffer[indices], self.value_buffer[indices]
        self._view()


def preallocated_cache(past: list[tuple[torch.Tensor, torch.Tensor]], capacity: int) -> Cache:
    """A transformers Cache over PreallocatedLayers, filled with `past` (per layer: keys, values)."""
    return Cache(layers=[PreallocatedLayer(k, v, capacity) for k, v in past])


CASCADE_ATTENTION = "debtgpt_cascade"


def cascade_attention(
    module, query, key, value, attention_mask, scaling=None, dropout=0.0, shared_prefix=None, **kwargs
):
    """Attention over a prefix that every row of the batch shares, then over each row's own keys and values.

    The rows of a batch of negotiations start with the same system prompt. Decoding is bound by reading
    keys and values, so the shared part is kept once ([kv_heads, tokens, head_dim] per layer, in
    `shared_prefix`) and read once per step for the whole batch instead of once per row; the per-row cache
    (`key`, `value`) holds only what follows it. Both parts enter one softmax, so the result is the attention
    over their concatenation. Without `shared_prefix` this is transformers' sdpa attention.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if shared_prefix is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    shared_keys, shared_values = shared_prefix[module.layer_idx]
    rows, heads, queries, dim = query.shape
    groups = heads // key.shape[1]
    if groups > 1:  # grouped-query attention: the CPU kernel wants one key/value head per query head
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
        shared_keys, shared_values = (
            shared_keys.repeat_interleave(groups, dim=0),
            shared_values.repeat_interleave(groups, dim=0),
        )
    scale = scaling if scaling is not None else dim**-0.5
    # each row's own tokens: torch's fused kernel, which also returns the softmax normaliser (log-sum-exp)
    own, own_lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, 0.0, False, attn_mask=attention_mask, scale=scale
    )
    # the shared tokens: every row's queries as the queries of one sequence, so the keys are read once
    q = query.transpose(0, 1).reshape(1, heads, rows * queries, dim)
    shared, shared_lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        q, shared_keys[None], shared_values[None], 0.0, False, scale=scale
    )
    shared = shared.view(heads, rows, queries, dim).transpose(0, 1)
    shared_lse = shared_lse.view(heads, rows, queries).transpose(0, 1)
    # one softmax over both parts: weigh each part's output by its share of the total normaliser
    total = torch.logaddexp(own_lse, shared_lse)
    output = own * (own_lse - total).exp().unsqueeze(-1) + shared * (shared_lse - total).exp().unsqueeze(-1)
    return output.transpose(1, 2).contiguous(), None


def use_cascade_attention(model) -> bool:
    """Make `model` attend with `cascade_attention` (registered with transformers, eager-style masks).

    False when the model cannot switch attention implementation (its attention is not transformers'
    pluggable kind), or is not on the CPU (cascade_attention runs torch's CPU flash kernel): it then keeps its
    own attention, and each row holds the whole prompt.
    """
    if model.device.type != "cpu":
        return False
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(CASCADE_ATTENTION, cascade_attention)
    AttentionMaskInterface.register(CASCADE_ATTENTION, eager_mask)
    try:
        model.set_attn_implementation(CASCADE_ATTENTION)  # only warns where the model cannot switch
    except (ValueError, KeyError, NotImplementedError):
        return False
    return model.config._attn_implementation == CASCADE_ATTENTION
