"""What a search run spent: the counts every result record carries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SearchCompute:
    """Policy tokens generated and read, reward-model tokens read, env steps, wall seconds."""

    policy_tokens_out: int = 0
    policy_tokens_in: int = 0
    rm_tokens: int = 0
    env_steps: int = 0
    trajectories: int = 0  # sampled paths (BoN) or expanded candidates (beam)
    wall_time_s: float = 0.0

    def add(self, other: "SearchCompute") -> None:
        self.policy_tokens_out += other.policy_tokens_out
        self.policy_tokens_in += other.policy_tokens_in
        self.rm_tokens += other.rm_tokens
        self.env_steps += other.env_steps
        self.trajectories += other.trajectories
        self.wall_time_s += other.wall_time_s

    @property
    def total_tokens(self) -> int:
        """Policy tokens generated plus reward-model tokens read (the x axis of compute curves)."""
        return self.policy_tokens_out + self.rm_tokens
