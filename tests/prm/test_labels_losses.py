"""Reference tests: TD-GAE and MC targets, and every loss, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agentprm_bench.prm.labels import mc_targets, td_gae_targets
from agentprm_bench.prm.losses import (
    agentprm_loss,
    inverse_prm_loss,
    mc_prm_loss,
    orm_loss,
    progress_loss,
    promise_loss,
    pvm_loss,
)


def test_td_gae_hand_worked_gamma_one():
    # M = [0.2, 0.5, 0.4], r = [0, 0, 1], gamma 1, lam 0.5
    # deltas: 0 + 0.5 - 0.2 = 0.3 ; 0 + 0.4 - 0.5 = -0.1 ; 1 + 0 - 0.4 = 0.6
    # A_2 = 0.6 ; A_1 = -0.1 + 0.5*0.6 = 0.2 ; A_0 = 0.3 + 0.5*0.2 = 0.4
    # Q = A + M = [0.6, 0.7, 1.0]
    q = td_gae_targets(np.array([0.2, 0.5, 0.4]), np.array([0.0, 0.0, 1.0]), gamma=1.0, lam=0.5)
    assert q == pytest.approx([0.6, 0.7, 1.0])


def test_td_gae_hand_worked_gamma_below_one():
    # gamma 0.9, lam 0.5, M = [0.2, 0.5, 0.4], r = [0, 0, 1]
    # deltas: 0.9*0.5 - 0.2 = 0.25 ; 0.9*0.4 - 0.5 = -0.14 ; 1 - 0.4 = 0.6
    # A_2 = 0.6 ; A_1 = -0.14 + 0.45*0.6 = 0.13 ; A_0 = 0.25 + 0.45*0.13 = 0.3085
    q = td_gae_targets(np.array([0.2, 0.5, 0.4]), np.array([0.0, 0.0, 1.0]), gamma=0.9, lam=0.5)
    assert q == pytest.approx([0.5085, 0.63, 1.0])


def test_td_gae_limits():
    m, r = np.array([0.3, 0.9, 0.1, 0.5]), np.array([0.0, 0.0, 0.0, 0.7])
    assert td_gae_targets(m, r, gamma=1.0, lam=1.0) == pytest.approx([0.7] * 4)  # Monte-Carlo return
    assert td_gae_targets(m, r, gamma=0.8, lam=0.0) == pytest.approx([0.72, 0.08, 0.4, 0.7])  # r_t + g*M_{t+1}
    assert td_gae_targets(np.array([0.4]), np.array([0.0]))[0] == 0.0  # a failed one-step episode
    with pytest.raises(ValueError):
        td_gae_targets(np.zeros(2), np.zeros(3))


def test_mc_targets_hard_and_soft():
    outcomes = np.array([[0, 0.9, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0.5]])  # BabyAI-like: success below 1
    wins = outcomes > 0.6
    hard, soft = mc_targets(outcomes, wins)
    assert hard.tolist() == [1.0, 0.0, 1.0] and soft == pytest.approx([0.225, 0.0, 0.875])
    with pytest.raises(ValueError):
        mc_targets(np.zeros((2, 0)), np.zeros((2, 0)))


# two trajectories: lengths 3 and 2 (padded to 3)
M = torch.tensor([[0.1, 0.4, 0.9], [0.5, 0.2, 7.0]])
Q = torch.tensor([[0.0, 0.5, 1.0], [0.3, 0.0, -3.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def test_promise_loss():
    # squared errors: 0.01, 0.01, 0.01, 0.04, 0.04 -> 0.5 * 0.11 / 5
    assert promise_loss(M, Q, MASK).item() == pytest.approx(0.5 * 0.11 / 5)


def test_progress_loss_includes_the_first_step():
    # traj 1: dM = [0.1, 0.3, 0.5], dQ = [0.0, 0.5, 0.5] -> diffs 0.1, -0.2, 0.0
    # traj 2: dM = [0.5, -0.3],     dQ = [0.3, -0.3]     -> diffs 0.2, 0.0
    # mean of squares over 5 steps: (0.01 + 0.04 + 0 + 0.04 + 0) / 5
    assert progress_loss(M, Q, MASK).item() == pytest.approx(0.09 / 5)


def test_agentprm_loss_and_beta_zero_ablation():
    assert agentprm_loss(M, Q, MASK, beta=1.0).item() == pytest.approx(0.011 + 0.018)
    assert agentprm_loss(M, Q, MASK, beta=2.0).item() == pytest.approx(0.011 + 0.036)
    assert agentprm_loss(M, Q, MASK, beta=0.0).item() == pytest.approx(promise_loss(M, Q, MASK).item())


def test_pvm_and_mc_prm_losses():
    outcome = torch.tensor([1.0, 0.0])
    # traj 1 vs 1: 0.81 + 0.36 + 0.01 ; traj 2 vs 0: 0.25 + 0.04 -> 0.5 * 1.47 / 5
    assert pvm_loss(M, outcome, MASK).item() == pytest.approx(0.5 * 1.47 / 5)
    assert mc_prm_loss(M, Q, MASK).item() == pytest.approx(promise_loss(M, Q, MASK).item())


def test_orm_loss_reads_the_last_real_step():
    outcome = torch.tensor([1.0, 0.0])
    # last steps: 0.9 (vs 1) and 0.2 (vs 0; the padded 7.0 is ignored) -> mean(0.5*0.01, 0.5*0.04)
    assert orm_loss(M, outcome, MASK).item() == pytest.approx((0.005 + 0.02) / 2)


def test_inverse_prm_loss():
    logits = torch.tensor([[0.0, 2.0, 0.0], [0.0, -1.0, 5.0]])
    expert = torch.tensor([1.0, 0.0])
    sp = lambda x: float(np.log1p(np.exp(x)))  # softplus
    # expert: -log sigmoid(l) = softplus(-l); policy: -log(1 - sigmoid(l)) = softplus(l)
    expected = (sp(0) + sp(-2) + sp(0) + sp(0) + sp(-1)) / 5
    assert inverse_prm_loss(logits, expert, MASK).item() == pytest.approx(expected, rel=1e-6)


def test_losses_ignore_padding_values_entirely():
    big = M.clone()
    big[1, 2] = 1e6
    for fn in (promise_loss, progress_loss, mc_prm_loss):
        assert fn(big, Q, MASK).item() == pytest.approx(fn(M, Q, MASK).item())
