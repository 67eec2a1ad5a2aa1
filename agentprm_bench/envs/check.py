"""Sanity runs of an environment with its scripted players: the oracle and random-admissible."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from agentprm_bench.envs.base import TextEnv
from agentprm_bench.progress import bar as progress_bar

Chooser = Callable[[TextEnv, dict], str]


def oracle_chooser(env: TextEnv, info: dict) -> str:
    return env.oracle_action()


def random_chooser(seed: int) -> Chooser:
    rng = np.random.default_rng(seed)

    def choose(env: TextEnv, info: dict) -> str:
        actions = info["admissible_actions"]
        return actions[int(rng.integers(len(actions)))]

    return choose


@dataclass(frozen=True)
class EpisodeResult:
    task_id: int
    reward: float  # the episode's total reward
    won: bool
    turns: int
    actions: tuple[str, ...]


def play_episode(env: TextEnv, task_id: int, choose: Chooser, seed: int | None = None) -> EpisodeResult:
    _, info = env.reset(seed=seed, options={"task_id": task_id})
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(choose(env, info))
        total += reward
        done = terminated or truncated
    return EpisodeResult(task_id, total, bool(info["won"]), env.turn, tuple(env.history))


@dataclass(frozen=True)
class CheckSummary:
    player: str
    episodes: int
    success_rate: float
    mean_reward: float
    mean_turns: float
    max_turns: int


def summarize(player: str, results: Sequence[EpisodeResult]) -> CheckSummary:
    return CheckSummary(
        player=player, episodes=len(results),
        success_rate=float(np.mean([r.won for r in results])) if results else 0.0,
        mean_reward=float(np.mean([r.reward for r in results])) if results else 0.0,
        mean_turns=float(np.mean([r.turns for r in results])) if results else 0.0,
        max_turns=max((r.turns for r in results), default=0),
    )


def check_env_players(env: TextEnv, task_ids: Sequence[int], seed: int = 0,
                      progress: bool = True) -> list[CheckSummary]:
    """Oracle and random-admissible play on ``task_ids``; one summary each."""
    out = []
    for name, choose in (("oracle", oracle_chooser), ("random", random_chooser(seed))):
        results = [play_episode(env, t, choose, seed=seed)
                   for t in progress_bar(task_ids, desc=f"{env.spec.id if env.spec else type(env).__name__} {name}",
                                 disable=not progress, leave=False)]
        out.append(summarize(name, results))
    return out
