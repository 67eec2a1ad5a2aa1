"""Reward-model losses: short pure functions over padded step tensors.

Shapes: B trajectories padded to T steps. ``m`` (B, T) are the model's step scores,
``mask`` (B, T) is 1 for real steps. Means are over real steps of the whole batch.
All regression losses use the linear head output; InversePRM uses it as a logit.
"""

from __future__ import annotations

import torch


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def promise_loss(m: torch.Tensor, q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_Q = mean 1/2 (M_t - Q_t)^2. m, q, mask: (B, T) -> scalar."""
    return _masked_mean(0.5 * (m - q) ** 2, mask)


def _prev(x: torch.Tensor) -> torch.Tensor:
    """x shifted right by one step with x_{-1} = 0. (B, T) -> (B, T)."""
    return torch.nn.functional.pad(x, (1, 0))[:, :-1]


def progress_loss(m: torch.Tensor, q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_A = mean ((M_t - M_{t-1}) - (Q_t - Q_{t-1}))^2, with M_{-1} = Q_{-1} = 0 for the first
    step. m, q, mask: (B, T) -> scalar."""
    return _masked_mean(((m - _prev(m)) - (q - _prev(q))) ** 2, mask)


def agentprm_loss(m: torch.Tensor, q: torch.Tensor, mask: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """AgentPRM: L_Q + beta * L_A on TD-GAE targets q (beta = 0 is the promise-only ablation)."""
    return promise_loss(m, q, mask) + beta * progress_loss(m, q, mask)


def pvm_loss(m: torch.Tensor, outcome: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PVM: every step regresses the trajectory's final reward. outcome: (B,)."""
    return promise_loss(m, outcome[:, None].expand_as(m), mask)


def orm_loss(m: torch.Tensor, outcome: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ORM: only the last real step's score regresses the final reward. outcome: (B,)."""
    last = mask.long().sum(dim=1).clamp(min=1) - 1
    final = m.gather(1, last[:, None]).squeeze(1)
    return (0.5 * (final - outcome) ** 2).mean()


def mc_prm_loss(m: torch.Tensor, q_mc: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MC-target PRM (Choudhury 2025): L_Q on Monte-Carlo Q estimates q_mc (B, T)."""
    return promise_loss(m, q_mc, mask)


def inverse_prm_loss(logits: torch.Tensor, expert: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """InversePRM: expert steps (label 1) vs policy steps (label 0) by step-wise logistic loss,
    no outcome labels. logits: (B, T); expert: (B,) 1 for a demonstration trajectory."""
    target = expert[:, None].to(logits.dtype).expand_as(logits)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return _masked_mean(bce, mask)
