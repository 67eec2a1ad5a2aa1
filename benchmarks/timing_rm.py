"""The reward model that the timing benchmarks search with (``beam_time.py``, ``search_speed.py``,
``attention_check.py``): the default size, i.e. the policy's backbone read up to ``max_len`` tokens
(2048, as the default reward models), with a seeded random head, so no trained reward model is
needed and every run scores alike. Imported by those scripts as a sibling module."""

from __future__ import annotations

import torch

from agentprm_bench.prm.model import RewardModel


def random_head_rm(backbone: str, device: str = "cpu", max_len: int = 2048, seed: int = 0) -> RewardModel:
    """An AgentPRM-kind reward model on the backbone directory ``backbone`` whose head is drawn from
    N(0, 0.5^2) after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    rm = RewardModel.from_backbone(backbone, {"kind": "agentprm", "max_obs_chars": 1200, "max_len": max_len},
                                   device=device)
    torch.nn.init.normal_(rm.model.head.weight, std=0.5)
    return rm
