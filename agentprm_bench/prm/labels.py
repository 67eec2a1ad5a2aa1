"""Step targets for reward models: TD-GAE (AgentPRM) and Monte-Carlo (Math-Shepherd style).

Indexing: a trajectory has T actions a_0..a_{T-1}; M_t = M(s_t, a_t) is the reward model's
score of step t, r_t the env reward after a_t (sparse: only r_{T-1} may be non-zero). A
trajectory that hit the turn limit is a failure: it ends with its (zero) reward too.

TD-GAE (DESIGN.md's formula with steps numbered from 0):
    delta_t = r_t + gamma * M_{t+1} - M_t          with M_T = 0 (nothing after the end)
    A_t     = sum_k (gamma * lam)^k * delta_{t+k}
    Q_t     = A_t + M_t                             so Q_{T-1} = r_{T-1}
lam = 1, gamma = 1 gives the Monte-Carlo return; lam = 0 gives one-step TD.
"""

from __future__ import annotations

import numpy as np


def td_gae_targets(values: np.ndarray, rewards: np.ndarray, gamma: float = 1.0, lam: float = 0.95) -> np.ndarray:
    """Q-targets of one trajectory. values: (T,) current scores M_t; rewards: (T,) r_t -> (T,)."""
    values = np.asarray(values, dtype=np.float64)
    rewards = np.asarray(rewards, dtype=np.float64)
    if values.shape != rewards.shape or values.ndim != 1:
        raise ValueError(f"values and rewards must be equal-length vectors, got {values.shape} and {rewards.shape}")
    nxt = np.append(values[1:], 0.0)
    deltas = rewards + gamma * nxt - values
    adv = np.zeros_like(values)
    running = 0.0
    for t in range(len(values) - 1, -1, -1):
        running = deltas[t] + gamma * lam * running
        adv[t] = running
    return adv + values


def mc_targets(outcomes: np.ndarray, wins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo targets from N rollouts started after each step. outcomes: (T, N) their final
    rewards; wins: (T, N) their success flags -> (hard (T,): 1 if any rollout succeeded,
    soft (T,): mean final reward)."""
    outcomes = np.asarray(outcomes, dtype=np.float64)
    wins = np.asarray(wins, dtype=bool)
    if outcomes.ndim != 2 or outcomes.shape[1] == 0 or wins.shape != outcomes.shape:
        raise ValueError(f"outcomes and wins must both be (steps, rollouts>=1), got {outcomes.shape}, {wins.shape}")
    return wins.any(axis=1).astype(np.float64), outcomes.mean(axis=1)
