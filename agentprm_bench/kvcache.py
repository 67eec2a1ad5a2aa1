"""Per-row KV caches of a decoder-only transformer: kept compact, batched with left padding.

A row's cache is a list over layers of (keys, values), each (1, H, P, D) for its P tokens, with no
padding. Rows of different lengths share a batch by left-padding with zero keys and values that
the attention mask hides; positions come from the mask, so a row's own tokens keep positions
0..P-1 and the reused KV is the KV its prefix would get when encoded alone. The policy
(``agents.hf``) and the reward model (``prm.model``) extend such caches instead of re-reading
the tokens they already encoded.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Sequence

import torch

RowKV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values), each (1, H, P, D)


@functools.cache
def _takes_cache(model_class: type) -> bool:
    """Whether the class's forward names its KV cache ``cache`` (transformers 5.2x) rather than
    ``past_key_values``; looked up once per class, not at every decoding step."""
    return "cache" in inspect.signature(model_class.forward).parameters


def with_cache(model: Any, past: Any, **inputs: Any) -> tuple[Any, Any]:
    """``model(**inputs, use_cache=True)`` continuing the KV cache ``past`` -> (output, its cache).
    transformers renamed the argument and output ``past_key_values`` to ``cache`` (5.2x; the old
    name warns): whichever ``model.forward`` takes is used."""
    new = _takes_cache(type(model))
    out = model(**inputs, use_cache=True, **{"cache" if new else "past_key_values": past})
    return out, out["cache"] if new else out.past_key_values


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading token ids two sequences share."""
    n = min(len(a), len(b))
    return next((k for k in range(n) if a[k] != b[k]), n)


def crop(row: RowKV, length: int) -> RowKV:
    """The KV of a row's first ``length`` tokens."""
    return [(k[:, :, :length], v[:, :, :length]) for k, v in row]


def left_padded(rows: Sequence[RowKV], width: int) -> Any:
    """One ``DynamicCache`` of ``width`` positions holding each row's KV right-aligned (zeros to its
    left); None when ``width`` is 0. Rows may be empty lists (nothing cached) where others are not.
    The caller's attention mask must be 0 over each row's padding."""
    from transformers import DynamicCache

    if not width:
        return None
    reference = next(r for r in rows if r)  # a non-empty row gives the per-layer shapes
    cache = DynamicCache()
    for layer, (ref_k, ref_v) in enumerate(reference):
        ks, vs = [], []
        for row in rows:
            p = row[0][0].shape[2] if row else 0
            shape = (1, ref_k.shape[1], width - p, ref_k.shape[3])
            ks.append(torch.cat([ref_k.new_zeros(shape)] + ([row[layer][0]] if row else []), dim=2))
            vs.append(torch.cat([ref_v.new_zeros(shape)] + ([row[layer][1]] if row else []), dim=2))
        cache.update(torch.cat(ks), torch.cat(vs), layer)
    return cache


def row_kv(cache: Any, row: int, where: slice | torch.Tensor) -> RowKV:
    """Row ``row``'s KV at the cache positions ``where`` (a slice or a 1-D index tensor), copied out
    of the batch (an index tensor gathers a new tensor already; a slice's view is cloned, so the
    row does not keep the whole batch alive)."""
    if isinstance(where, slice):
        return [(layer.keys[row: row + 1, :, where].clone(), layer.values[row: row + 1, :, where].clone())
                for layer in cache.layers]
    return [(layer.keys[row: row + 1, :, where], layer.values[row: row + 1, :, where]) for layer in cache.layers]


@functools.cache
def _growing_layer() -> type:
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A ``DynamicLayer`` that writes new tokens into a buffer with ``room`` spare positions
        instead of concatenating (a copy of the whole KV at every decoding step); its keys and
        values are views of the buffer's filled part, so they hold the same numbers."""

        room = 0

        def _buffered(self) -> bool:
            """Whether keys and values are the filled part of this layer's buffer (not replaced)."""
            kb = getattr(self, "_kbuf", None)
            return kb is not None and self.keys.numel() > 0 and self.keys.data_ptr() == kb.data_ptr()

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
                   ) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n, q = (self.keys.shape[-2] if self.keys.numel() else 0), key_states.shape[-2]
            kb, vb = getattr(self, "_kbuf", None), getattr(self, "_vbuf", None)
            if not self._buffered() or self.keys.shape[:2] != key_states.shape[:2] or n + q > kb.shape[2]:
                # the first step, keys replaced from outside, or no room left: a new buffer with room
                shape = (*key_states.shape[:2], n + q + self.room, key_states.shape[3])
                kb, vb = key_states.new_empty(shape), value_states.new_empty(shape)
                if n:
                    kb[:, :, :n], vb[:, :, :n] = self.keys, self.values
                self._kbuf, self._vbuf = kb, vb
            kb[:, :, n: n + q], vb[:, :, n: n + q] = key_states, value_states
            self.keys, self.values = kb[:, :, : n + q], vb[:, :, : n + q]
            return self.keys, self.values

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            """Rows ``indices`` of the buffer, room included (one copy; the next step writes in place)."""
            if not self._buffered():
                return super().batch_select_indices(indices)
            n = self.keys.shape[-2]
            self._kbuf, self._vbuf = self._kbuf[indices], self._vbuf[indices]
            self.keys, self.values = self._kbuf[:, :, :n], self._vbuf[:, :, :n]

    return GrowingLayer


def grow_in_place(cache: Any, room: int) -> Any:
    """Let a ``DynamicCache`` take about ``room`` more tokens per row without copying its whole KV
    at every step (``GrowingLayer``; a batch selection copies the buffer with its room); the same
    numbers as concatenating. -> the cache."""
    cls = _growing_layer()
    for layer in cache.layers:
        if type(layer) is cls.__base__:  # a plain DynamicLayer (not a sliding-window one)
            layer.__class__ = cls
        layer.room = room
    return cache
