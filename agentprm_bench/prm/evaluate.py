"""Held-out evaluation of a reward model: does its final-step score separate successes?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentprm_bench.agents.trajectory import read_trajectories
from agentprm_bench.prm.model import RewardModel
from agentprm_bench.prm.train import roc_auc


@dataclass(frozen=True)
class RMEvaluation:
    trajectories: int
    success_rate: float
    final_auc: float  # AUC of the final-step score against success
    final_mse: float  # mean (final score - final reward)^2
    mean_score_success: float
    mean_score_failure: float
    tokens_read: int


def evaluate_reward_model(rm: RewardModel, trajectories_path: str | Path) -> RMEvaluation:
    trajs = list(read_trajectories(Path(trajectories_path)))
    scores, tokens = rm.score([(t.env_id, t.observations, t.actions) for t in trajs])
    finals = np.array([s[-1] for s in scores], dtype=float)
    won = np.array([t.won for t in trajs], dtype=bool)
    rewards = np.array([t.final_reward for t in trajs], dtype=float)
    return RMEvaluation(
        trajectories=len(trajs), success_rate=float(won.mean()) if len(trajs) else 0.0,
        final_auc=roc_auc(finals, won), final_mse=float(((finals - rewards) ** 2).mean()) if len(trajs) else 0.0,
        mean_score_success=float(finals[won].mean()) if won.any() else float("nan"),
        mean_score_failure=float(finals[~won].mean()) if (~won).any() else float("nan"), tokens_read=tokens,
    )
