"""Aggregate figures over trajectories: success, reward, turns, tokens, invalid actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from agentprm_bench.agents.trajectory import Trajectory


@dataclass(frozen=True)
class RolloutSummary:
    trajectories: int
    tasks: int
    success_rate: float
    mean_reward: float
    mean_turns: float
    invalid_action_rate: float
    parse_failure_rate: float
    policy_tokens_in: int
    policy_tokens_out: int
    env_steps: int
    wall_time_s: float


def summarize_trajectories(trajs: Sequence[Trajectory]) -> RolloutSummary:
    steps = [s for t in trajs for s in t.steps]
    return RolloutSummary(
        trajectories=len(trajs), tasks=len({t.task_id for t in trajs}),
        success_rate=float(np.mean([t.won for t in trajs])) if trajs else 0.0,
        mean_reward=float(np.mean([t.final_reward for t in trajs])) if trajs else 0.0,
        mean_turns=float(np.mean([len(t.steps) for t in trajs])) if trajs else 0.0,
        invalid_action_rate=float(np.mean([not s.valid for s in steps])) if steps else 0.0,
        parse_failure_rate=float(np.mean([not s.parsed for s in steps])) if steps else 0.0,
        policy_tokens_in=sum(t.compute.policy_tokens_in for t in trajs),
        policy_tokens_out=sum(t.compute.policy_tokens_out for t in trajs),
        env_steps=sum(t.compute.env_steps for t in trajs),
        wall_time_s=round(sum(t.compute.wall_time_s for t in trajs), 3),
    )
