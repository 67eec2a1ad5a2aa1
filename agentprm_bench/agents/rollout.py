"""Lock-step rollouts: many envs, one batched policy call per step, finished episodes streamed out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from agentprm_bench.agents.base import ActionSample, History, Policy
from agentprm_bench.agents.trajectory import Compute, Step, Trajectory
from agentprm_bench.progress import bar as progress_bar
from agentprm_bench.provenance import package_version
from agentprm_bench.envs import make_env


def step_seed(seed: int, task_id: int, sample_index: int, turn: int) -> int:
    """The sampling seed of one step: a function of where it is, not of batch composition."""
    return int(np.random.SeedSequence([seed, task_id, sample_index, turn]).generate_state(1, np.uint64)[0] >> 1)


def record_step(observation: str, sample: ActionSample, reward: float, done: bool, info: dict[str, Any]) -> Step:
    """The trajectory step of taking ``sample`` on ``observation``."""
    return Step(observation, sample.action, sample.raw, sample.parsed, bool(info["valid_action"]), reward, done,
                sample.tokens_in, sample.tokens_out)


@dataclass
class _Slot:
    env: Any
    task_id: int = -1
    sample_index: int = -1
    history: History | None = None
    steps: list[Step] = field(default_factory=list)
    wall: float = 0.0
    total_reward: float = 0.0


def env_version(env_id: str) -> int:
    return int(env_id.rsplit("-v", 1)[1]) if "-v" in env_id else 0


Job = tuple  # (task_id, sample_index) or (task_id, sample_index, prefix_actions)


def rollout(env_id: str, policy: Policy, jobs: Iterable[Job], seed: int,
            on_done: Callable[[Trajectory], None], *, env_kwargs: dict[str, Any] | None = None,
            batch_size: int = 32, progress: bool = False, total: int | None = None) -> None:
    """Play every (task_id, sample_index[, prefix_actions]) job to the end; call ``on_done`` with
    each trajectory. A prefix is replayed first (its steps are part of the trajectory, with no
    policy tokens); the policy takes over from there."""
    pending = iter(jobs)
    envs = [make_env(env_id, **(env_kwargs or {})) for _ in range(batch_size)]
    slots: list[_Slot] = []
    bar = progress_bar(total=total, desc=f"{env_id} {policy.name}", unit="traj", disable=not progress)
    policy_meta, version, pkg = policy.describe(), env_version(env_id), package_version()

    def start(slot: _Slot) -> bool:
        job = next(pending, None)
        if job is None:
            return False
        slot.task_id, slot.sample_index = job[0], job[1]
        t0 = time.perf_counter()
        obs, info = slot.env.reset(options={"task_id": slot.task_id})
        slot.history = History(env_id, slot.task_id, [obs], [], info["admissible_actions"], slot.env)
        slot.steps, slot.total_reward = [], 0.0
        for action in (job[2] if len(job) > 2 else ()):
            if advance(slot, ActionSample(action, action, True))[0]:
                raise ValueError(f"prefix of task {slot.task_id} ends the episode; nothing left to roll out")
        slot.wall = time.perf_counter() - t0
        return True

    def advance(slot: _Slot, sample: ActionSample) -> tuple[bool, bool, str, dict[str, Any]]:
        """Step the slot's env with a sample; record it. -> (done, truncated-only, obs, info)."""
        h = slot.history
        assert h is not None
        obs, reward, terminated, truncated, info = slot.env.step(sample.action)
        done = bool(terminated or truncated)
        slot.total_reward += float(reward)
        slot.steps.append(record_step(h.observations[-1], sample, float(reward), done, info))
        h.actions.append(sample.action)
        h.observations.append(obs)
        h.admissible_actions = info["admissible_actions"]
        return done, bool(truncated and not terminated), obs, info

    for env in envs:
        slot = _Slot(env)
        if not start(slot):
            break
        slots.append(slot)
    try:
        while slots:
            histories = [s.history for s in slots]
            seeds = [step_seed(seed, s.task_id, s.sample_index, s.history.turn) for s in slots]  # type: ignore[union-attr]
            t0 = time.perf_counter()
            samples = policy.act(histories, 1, seeds)  # type: ignore[arg-type]
            share = (time.perf_counter() - t0) / len(slots)
            still = []
            for slot, (sample,) in zip(slots, samples):
                t0 = time.perf_counter()
                done, truncated, obs, info = advance(slot, sample)
                slot.wall += share + time.perf_counter() - t0
                if not done:
                    still.append(slot)
                    continue
                on_done(Trajectory(
                    env_id=env_id, task_id=slot.task_id, sample_index=slot.sample_index, seed=seed,
                    policy=policy_meta, steps=tuple(slot.steps), final_observation=obs,
                    final_reward=slot.total_reward, won=bool(info["won"]), truncated=truncated,
                    compute=Compute(sum(s.tokens_in for s in slot.steps), sum(s.tokens_out for s in slot.steps),
                                    len(slot.steps), round(slot.wall, 6)),
                    env_version=version, package_version=pkg,
                ))
                bar.update(1)
                if start(slot):
                    still.append(slot)
            slots = still
    finally:
        bar.close()


def collect_in_memory(env_id: str, policy: Policy, task_ids: Sequence[int], samples: int, seed: int,
                      **kwargs: Any) -> list[Trajectory]:
    """Convenience: roll out ``samples`` episodes per task and return them sorted by key."""
    out: list[Trajectory] = []
    rollout(env_id, policy, [(t, s) for t in task_ids for s in range(samples)], seed, out.append, **kwargs)
    return sorted(out, key=lambda t: t.key)
