"""Policy-update losses of ``improve``: step-level DPO and the reply log-probabilities it needs."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dpo_loss(pi_chosen: torch.Tensor, pi_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """Direct preference optimisation (Rafailov et al. 2023) on step-level pairs.

    All inputs (P,): summed log-probabilities of the chosen / rejected reply at the same state
    under the trained policy (pi_*) and the frozen reference (ref_*). Returns the scalar
    mean over pairs of -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))."""
    margin = (pi_chosen - ref_chosen) - (pi_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def reply_logps(logits: torch.Tensor, ids: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Summed log-probability of each row's reply tokens ids[b, starts[b]:lengths[b]].

    logits: (B, L, V) of a causal LM over ids (B, L), right-padded; starts, lengths: (B,).
    Token t is predicted by the logits at t - 1. Returns (B,)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, ids[:, 1:, None])[..., 0]  # (B, L-1)
    pos = torch.arange(1, ids.shape[1], device=ids.device)[None, :]
    mask = (pos >= starts[:, None]) & (pos < lengths[:, None])
    return (logp * mask).sum(-1)
