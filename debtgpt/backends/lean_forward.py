"""The forward pass of a Llama-family decoder without transformers' module machinery, for the decoding loop.

A small model on the CPU spends much of a decoding step in Python, not in arithmetic: the tiny collector's
forward through transformers takes 3 to 4 ms even for one row, a quarter of it module calls, decorators and
config lookups around a few dozen tensor operations. `LeanForward` runs the same tensor operations, in the
same order and on the same shapes, straight from the model's weights, so its logits are bit-identical to
the model's own forward (tests/test_backends.py checks it) without that overhead.

It covers the architectures whose forward it copies (transformers 5.17's Llama and Qwen2 with every layer
on full attention); `LeanForward.supports(model)` says whether a model is one, and the backend keeps the
model's own forward otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.models.llama.modeling_llama import rotate_half  # a plain function (Qwen2's is the same)

SUPPORTED_MODEL_TYPES = ("llama", "qwen2")


def _rms_norm(hidden: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # LlamaRMSNorm / Qwen2RMSNorm, operation for operation
    dtype = hidden.dtype
    hidden = hidden.to(torch.float32)
    variance = hidden.pow(2).mean(-1, keepdim=True)
    hidden = hidden * torch.rsqrt(variance + eps)
    return weight * hidden.to(dtype)


class LeanForward:
    """`model(input_ids, attention_mask, position_ids, past_key_values, logits_to_keep=1)` for the decoding loop.

    `attention(module, query, key, value, mask, scaling=...)` is the attention function the model is set to
    (transformers' interface), called with the model's own attention modules so that it sees `layer_idx`.
    """

    def __init__(self, model, attention):
        config, decoder = model.config, model.model
        self.attention = attention
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        # each layer's modules and weights looked up once: attribute access through nn.Module costs per step
        self.layers = [
            (
                layer.self_attn,
                layer.input_layernorm.weight,
                layer.input_layernorm.variance_epsilon,
                *[
                    (proj.weight, proj.bias)
                    for proj in (
                        layer.self_attn.q_proj,
                        layer.self_attn.k_proj,
                        layer.self_attn.v_proj,
                        layer.self_attn.o_proj,
                    )
                ],
                layer.post_attention_layernorm.weight,
                layer.post_attention_layernorm.variance_epsilon,
                layer.mlp.gate_proj.weight,
                layer.mlp.up_proj.weight,
                layer.mlp.down_proj.weight,
            )
            for layer in decoder.layers[: config.num_hidden_layers]
        ]
        self.embedding = decoder.embed_tokens.weight  # (padding_idx only matters to gradients)
        self.final_norm = (decoder.norm.weight, decoder.norm.variance_epsilon)
        self.lm_head = (model.lm_head.weight, model.lm_head.bias)
        rotary = decoder.rotary_emb
        # dynamic and longrope RoPE update their frequencies per call (transformers' dynamic_rope_update): their
        # module is called; every other type's forward is the arithmetic of `_rotary` below
        self.rotary_module = rotary if ("dynamic" in rotary.rope_type or rotary.rope_type == "longrope") else None
        self.inv_freq, self.rotary_scaling = rotary.inv_freq, rotary.attention_scaling

    def _rotary(self, hidden: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of the rotary embedding: LlamaRotaryEmbedding.forward's operations (float32, no autocast)."""
        if self.rotary_module is not None:
            return self.rotary_module(hidden, position_ids=position_ids)
        inv_freq = (
            self.inv_freq[None, :, None]
            .expand(position_ids.shape[0], -1, 1)
            .to(dtype=torch.float, device=hidden.device)
        )
        freqs = (inv_freq @ position_ids[:, None, :].float()).transpose(1, 2)
        angles = torch.cat((freqs, freqs), dim=-1)
        return (angles.cos() * self.rotary_scaling).to(dtype=hidden.dtype), (angles.sin() * self.rotary_scaling).to(
            dtype=hidden.dtype
        )

    @classmethod
    def of(cls, model) -> "LeanForward | None":
        """A LeanForward over `model` with the attention function it is set to, or None where it is not supported."""
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        implementation = model.config._attn_implementation
        if not cls.supports(model) or implementation not in ALL_ATTENTION_FUNCTIONS:
            return None
        return cls(model, ALL_ATTENTION_FUNCTIONS[implementation])

    @staticmethod
    def supports(model) -> bool:
        """Whether `model`'s forward is the one this class copies (no sliding window, no hooks or adapters)."""
        config = getattr(model, "config", None)
        if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES or not hasattr(model, "lm_head"):
            return False
        if any(kind != "full_attention" for kind in (getattr(config, "layer_types", None) or ())):
            return False
        if getattr(config, "mlp_bias", False) or getattr(config, "hidden_act", "silu") != "silu":
            return False
        # hooks (accelerate offloading, PEFT wrappers) change what a module call does
        return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())

    def __call__(
        self, input_ids, attention_mask, position_ids, past_key_values, logits_to_keep: int = 1, **attention_kwargs
    ):
        hidden = F.embedding(input_ids, self.embedding)
        cos, sin = self._rotary(hidden, position_ids)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        rows, tokens = input_ids.shape
        shape = (rows, tokens, -1, self.head_dim)
        for index, (
            attn,
            norm_in,
            eps_in,
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            norm_post,
            eps_post,
            gate,
            up,
            down,
        ) in enumerate(self.layers):
            residual = hidden
            x = _rms_norm(hidden, norm_in, eps_in)
            query = F.linear(x, *q_proj).view(shape).transpose(1, 2)
            key = F.linear(x, *k_proj).view(shape).transpose(1, 2)
            value = F.linear(x, *v_proj).view(shape).transpose(1, 2)
            query = (query * cos) + (rotate_half(query) * sin)
            key = (key * cos) + (rotate_half(key) * sin)
            key, value = past_key_values.update(key, value, index)
            out, _ = self.attention(
                attn, query, key, value, attention_mask, dropout=0.0, scaling=attn.scaling, **attention_kwargs
            )
            hidden = residual + F.linear(out.reshape(rows, tokens, -1).contiguous(), *o_proj)
            residual = hidden
            x = _rms_norm(hidden, norm_post, eps_post)
            hidden = residual + F.linear(F.silu(F.linear(x, gate)) * F.linear(x, up), down)
        hidden = _rms_norm(hidden, *self.final_norm)
        return F.linear(hidden[:, -logits_to_keep:, :], *self.lm_head)
