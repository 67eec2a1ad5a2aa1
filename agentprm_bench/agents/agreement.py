"""How often two policies choose the same action at the same states.

``agreement`` rolls out ``driver`` (e.g. ``hf`` greedy) and, at every state it visits, asks
``other`` (e.g. ``vllm`` greedy over the same model) for its action on the identical history:
the fraction of steps where both pick the same action is the backends' agreement, free of the
drift that comparing two separately sampled trajectories would add.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from agentprm_bench.agents.base import ActionSample, History, Policy
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.agents.trajectory import Trajectory


@dataclass
class Agreement:
    steps: int = 0
    same: int = 0
    other_admissible: int = 0  # steps where ``other``'s action is one of the admissible actions
    disagreements: list[tuple[int, int, str, str]] = field(default_factory=list)  # task, turn, driver, other

    @property
    def rate(self) -> float:
        return self.same / self.steps if self.steps else float("nan")


class _Shadow(Policy):
    """Acts as ``driver``; asks ``other`` the same question and tallies the answers."""

    def __init__(self, driver: Policy, other: Policy, tally: Agreement):
        self.driver, self.other, self.tally = driver, other, tally
        self.name = driver.name

    def describe(self) -> dict[str, Any]:
        return self.driver.describe()

    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        mine = self.driver.act(histories, k, seeds)
        theirs = self.other.act(histories, k, seeds)
        for h, row, other_row in zip(histories, mine, theirs):
            for a, b in zip(row, other_row):
                self.tally.steps += 1
                self.tally.same += a.action == b.action
                self.tally.other_admissible += b.action in h.admissible_actions
                if a.action != b.action:
                    self.tally.disagreements.append((h.task_id, h.turn, a.action, b.action))
        return mine


def agreement(env_id: str, driver: Policy, other: Policy, task_ids: Sequence[int], seed: int = 0,
              batch_size: int = 32) -> tuple[Agreement, list[Trajectory]]:
    """Roll out ``driver`` on ``task_ids`` (one episode each) and tally ``other``'s answers."""
    tally = Agreement()
    trajs = collect_in_memory(env_id, _Shadow(driver, other, tally), task_ids, 1, seed, batch_size=batch_size)
    return tally, trajs
