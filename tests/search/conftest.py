"""Scripted scorers and a token-counting policy for search tests."""

from __future__ import annotations

from typing import Callable, Sequence

import gymnasium as gym
import numpy as np
import pytest

from agentprm_bench.agents.base import ActionSample, History, Policy
from agentprm_bench.agents.scripted import RandomPolicy
from agentprm_bench.search.scorers import PathScorer


class FunctionScorer(PathScorer):
    """Step t's score is f(env_id, observations[:t+1], actions[:t+1]); tokens read = actions."""

    def __init__(self, f: Callable[[str, Sequence[str], Sequence[str]], float]):
        self.f, self.calls = f, 0

    def score_each(self, trajectories):
        self.calls += 1
        return [(np.array([self.f(e, obs[: t + 1], acts[: t + 1]) for t in range(len(acts))]), len(acts))
                for e, obs, acts in trajectories]


def oracle_scorer(task_of: dict[str, int]) -> FunctionScorer:
    """A perfect reward model: 2 if the path wins, 1 if its last action is the oracle's action
    in the state it was taken, else 0. ``task_of`` maps a task's first observation to its id."""

    def f(env_id: str, observations: Sequence[str], actions: Sequence[str]) -> float:
        env = gym.make(env_id, split="test").unwrapped
        env.reset(options={"task_id": task_of[observations[0]]})
        for a in actions[:-1]:
            env.step(a)
        right = actions[-1] == env.oracle_action()
        _, _, _, _, info = env.step(actions[-1])
        return 2.0 if info["won"] else float(right)

    return FunctionScorer(f)


class CountingPolicy(Policy):
    """Random admissible actions that report tokens: in = turn + 1, out = len(action)."""

    name = "counting"

    def __init__(self):
        self.inner, self.tokens_out, self.tokens_in, self.samples = RandomPolicy(), 0, 0, 0

    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        out = []
        for row, h in zip(self.inner.act(histories, k, seeds), histories):
            new = [ActionSample(s.action, s.raw, s.parsed, h.turn + 1, len(s.action)) for s in row]
            self.tokens_out += sum(s.tokens_out for s in new)
            self.tokens_in += sum(s.tokens_in for s in new)
            self.samples += len(new)
            out.append(new)
        return out


@pytest.fixture()
def bench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTPRM_BENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="session")
def untrained_rm(tiny_model_dir, tmp_path_factory):
    """A valid agentprm checkpoint with a random head (scores differ, selection is arbitrary)."""
    import torch

    from agentprm_bench.prm.model import RewardModel

    torch.manual_seed(0)
    rm = RewardModel.from_backbone(tiny_model_dir, {"kind": "agentprm", "max_obs_chars": 200, "max_len": 2048},
                                   device="cpu")
    torch.nn.init.normal_(rm.model.head.weight, std=0.3)
    path = tmp_path_factory.mktemp("rm")
    rm.save(path)
    return path
