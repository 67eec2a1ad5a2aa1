"""A left-padded prefill and cached steps of several tokens, the forwards that the attention and KV-cache
tests compare between two ways of computing them."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch

from agentprm_bench.kvcache import with_cache


def prefill_then_steps(model: Any, ids: torch.Tensor, attn: torch.Tensor, steps: Sequence[int],
                       tokens: tuple[int, int], generator: torch.Generator, past: Any = None,
                       rows: torch.Tensor | None = None) -> Iterator[tuple[Any, Any]]:
    """Yields (output, cache) of the prefill of ``ids`` (B, T) under ``attn`` (B, T; 0 = left padding,
    positions from the mask) onto ``past``, then of one cached step per ``q`` in ``steps`` (q new token
    ids drawn from ``tokens`` = [low, high) with ``generator``). ``rows``: after the prefill, the batch
    becomes these rows of it (``batch_select_indices``, as k samples of one prompt), and one more item
    comes right after that selection: (None, cache)."""
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    out, past = with_cache(model, past, input_ids=ids, attention_mask=attn, position_ids=pos)
    yield out, past
    if rows is not None:
        past.batch_select_indices(rows)
        attn, pos = attn[rows], pos[rows]
        yield None, past
    for q in steps:
        new = torch.randint(*tokens, (len(attn), q), generator=generator)
        attn = torch.cat([attn, torch.ones(len(attn), q, dtype=torch.long)], -1)
        step = pos[:, -1:] + torch.arange(1, q + 1)[None]
        pos = torch.cat([pos, step], -1)
        out, past = with_cache(model, past, input_ids=new, attention_mask=attn, position_ids=step)
        yield out, past
