"""Grouped-query attention without copying the KV cache, for inference on cached prefixes.

Our backbones (Qwen2-style) share each key/value head among ``g`` query heads. transformers' sdpa
path, given a padding mask and more than one query token (a prefill onto a cache, a fast-forwarded
chain of forced tokens, a reward model reading a new step), copies every key and value head ``g``
times (``repeat_kv``) before calling ``scaled_dot_product_attention``: with a cache of thousands of
positions that copy costs about as much as the attention itself (py-spy, BabyAI beam search: ~20%
of the time). Here the key/value heads go to ``scaled_dot_product_attention`` as they are, with
``enable_gqa=True``: torch's CPU kernel maps query head ``i`` to key/value head ``i // g`` itself
(the heads ``repeat_kv`` would have copied there) and divides the work among threads as for the
repeated call, so the output is the same bit for bit (tests compare with ``==`` at one and at two
threads; two earlier designs were not: the ``g`` heads of a group stacked along the query axis in
one call, and one call per query head of a group, which differed at several threads).

Only where no gradient is taken: a training step keeps transformers' arithmetic (its backward sums
the ``g`` copies' gradients in its own order), so trained weights do not change with this module.
Only on the CPU: with a mask, CUDA's ``enable_gqa`` falls back to the math kernel (transformers
uses it there only without a mask), and on one H200 the copy was cheap (``benchmarks/
attention_check.py``, performance.md).
"""

from __future__ import annotations

import functools
from typing import Any

import torch

NAME = "agentprm_sdpa"


def grouped_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                      is_causal: bool | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Attention for ``query`` (B, H, Q, D) over ``key``/``value`` (B, H/g, K, D) under
    ``attention_mask`` (B or 1, 1, Q, K) -> ((B, Q, H, D), None); transformers' sdpa function where
    this does not apply (one query token, no mask, a mask per head, gradients, extra terms, a GPU)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if (getattr(module, "num_key_value_groups", 1) == 1 or query.shape[2] == 1 or query.device.type != "cpu"
            or attention_mask is None or attention_mask.dim() != 4 or attention_mask.shape[1] != 1
            or torch.is_grad_enabled() or kwargs.get("position_bias") is not None
            or kwargs.get("softcap") is not None or kwargs.get("output_attentions")):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                           dropout_p=dropout, scale=scaling, enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


@functools.cache
def _register() -> None:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(NAME, grouped_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # the same masks as sdpa's


def use_grouped_attention(model: Any) -> Any:
    """Switch a loaded transformers model from ``sdpa`` to ``grouped_attention`` (other
    implementations are left alone) -> the model. Not saved with its config."""
    if getattr(model.config, "_attn_implementation", None) == "sdpa":
        _register()
        model.set_attn_implementation(NAME)
    return model
