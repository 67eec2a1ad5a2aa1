"""DPO loss and reply log-probabilities against hand-computed cases."""

from __future__ import annotations

import math

import torch

from agentprm_bench.improve.losses import dpo_loss, reply_logps
from agentprm_bench.improve.updates import preference_pairs


def test_dpo_loss_by_hand():
    pi_c, pi_r = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.0])
    ref_c, ref_r = torch.tensor([-2.0, -2.0]), torch.tensor([-2.0, -2.0])
    # margins: (-1+2) - (-3+2) = 2 ; (-2+2) - (-1+2) = -1 ; beta 0.5 -> 1.0, -0.5
    expected = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(0.5))) / 2
    assert abs(dpo_loss(pi_c, pi_r, ref_c, ref_r, 0.5).item() - expected) < 1e-6
    # equal to the reference: log 2 whatever beta
    assert abs(dpo_loss(ref_c, ref_r, ref_c, ref_r, 3.0).item() - math.log(2)) < 1e-6


def test_dpo_gradient_raises_the_chosen_and_lowers_the_rejected():
    pi_c = torch.tensor([-2.0], requires_grad=True)
    pi_r = torch.tensor([-2.0], requires_grad=True)
    dpo_loss(pi_c, pi_r, torch.tensor([-2.0]), torch.tensor([-2.0]), 0.1).backward()
    assert pi_c.grad.item() < 0 < pi_r.grad.item()  # descent raises pi_c, lowers pi_r


def test_reply_logps_sum_only_the_reply_tokens():
    vocab = 3
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.2, 0.7], [0.6, 0.2, 0.2], [1 / 3] * 3]]))
    ids = torch.tensor([[0, 1, 2, 0]])
    # reply = tokens 2..3 (ids 2 then 0), predicted by positions 1 and 2: log 0.7 + log 0.6
    got = reply_logps(logits, ids, torch.tensor([2]), torch.tensor([4]))
    assert abs(got.item() - (math.log(0.7) + math.log(0.6))) < 1e-6
    # a shorter length drops the padding after it: only token 2
    got = reply_logps(logits, ids, torch.tensor([2]), torch.tensor([3]))
    assert abs(got.item() - math.log(0.7)) < 1e-6
    assert vocab == logits.shape[-1]


def test_pairs_take_the_best_and_the_worst_and_skip_ties():
    pairs = preference_pairs([["a", "b", "c"], ["x", "y"], ["only"], ["p", "q"]],
                             [[0.2, 0.9, 0.1], [0.5, 0.5], [1.0], [0.1, 0.3]])
    assert pairs == [(0, "b", "c"), (3, "q", "p")]
