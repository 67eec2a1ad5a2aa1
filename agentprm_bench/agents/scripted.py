"""Scripted policies: uniform over admissible actions, the env's oracle, and a noisy oracle."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from agentprm_bench.agents.base import ActionSample, History, Policy


def _sample(action: str) -> ActionSample:
    return ActionSample(action=action, raw=action, parsed=True)


class RandomPolicy(Policy):
    """Uniform over ``admissible_actions``."""

    name = "random"

    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        out = []
        for h, seed in zip(histories, seeds):
            rng = np.random.default_rng(seed)
            out.append([_sample(h.admissible_actions[int(rng.integers(len(h.admissible_actions)))])
                        for _ in range(k)])
        return out


class OraclePolicy(Policy):
    """The env's own oracle (privileged: reads the live env's state)."""

    name = "oracle"

    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        out = []
        for h in histories:
            if h.env is None:
                raise ValueError("the oracle policy needs the live env in History.env")
            out.append([_sample(h.env.oracle_action())] * k)
        return out


class NoisyOraclePolicy(Policy):
    """The oracle's action with probability ``p``, else a uniformly random admissible action."""

    name = "noisy-oracle"

    def __init__(self, p: float = 0.8):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = float(p)

    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        out = []
        for h, seed in zip(histories, seeds):
            rng = np.random.default_rng(seed)
            oracle = h.env.oracle_action()
            row = []
            for _ in range(k):
                if rng.random() < self.p:
                    row.append(_sample(oracle))
                else:
                    row.append(_sample(h.admissible_actions[int(rng.integers(len(h.admissible_actions)))]))
            out.append(row)
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "p": self.p}
