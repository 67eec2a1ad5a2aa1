"""Best-of-N: N sampled trajectories per task, each scored by the reward model, the best kept.

A trajectory's score aggregates its per-step scores: ``last`` (the final step's score: the
paper's choice for AgentPRM and PVM, and the ORM's outcome score), ``min`` or ``mean``.
Ties go to the earlier sample. Samples come from a shared pool (``pool.sample_pool``):
BoN@N uses samples 0..N-1 of each task, so every budget and method sees the same draws,
and a run is charged exactly the compute of the N samples it uses plus their scoring.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from agentprm_bench.agents.trajectory import Trajectory
from agentprm_bench.errors import UserError
from agentprm_bench.search.compute import SearchCompute

AGGREGATES = ("last", "min", "mean")


def aggregate(step_scores: np.ndarray, how: str) -> float:
    """One score per trajectory from its (T,) step scores."""
    if how == "last":
        return float(step_scores[-1])
    if how == "min":
        return float(np.min(step_scores))
    if how == "mean":
        return float(np.mean(step_scores))
    raise UserError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATES)}")


def select(scores: Sequence[float]) -> int:
    """Index of the best score; the first one on ties."""
    return int(np.argmax(np.asarray(scores, dtype=float)))


def sampling_compute(trajs: Sequence[Trajectory]) -> SearchCompute:
    """What sampling these trajectories cost (as recorded when they were rolled out)."""
    return SearchCompute(policy_tokens_out=sum(t.compute.policy_tokens_out for t in trajs),
                         policy_tokens_in=sum(t.compute.policy_tokens_in for t in trajs),
                         env_steps=sum(t.compute.env_steps for t in trajs), trajectories=len(trajs),
                         wall_time_s=sum(t.compute.wall_time_s for t in trajs))
