"""Beam search @N x M, guided by a reward model, over many tasks at once.

Reads top to bottom (``beam_search_many``). The root expands N*M sampled actions; afterwards each of the (at most) N
live nodes expands M. All expansions of a step go to the policy in ONE batched call and to the
reward model in ONE call. Where the policy has ``act_cached``, each live path keeps the policy's KV
cache of its last prompt and reply, so a prompt's shared head (and, while the prompt only grows,
everything but the new observation) is not read again. The reward model: ``score_extensions``
where the scorer has it (each live path keeps its reward-model KV cache from the step before, so
only the new observation and the candidate action are read: O(T) tokens per path), else
``score_expansions`` (a node's history re-encoded once per step and shared by its candidates).
Identical actions sampled from the same node are stepped and scored once (their tokens still
count). Every candidate is stepped in its own copy of the node's env (``snapshot``) and scored by
the value of its new step. The N best candidates (finished or not) stay in the beam:
finished ones leave it for the answer pool, the others expand next step. The search ends when
no live node is left (episodes end at the env's turn limit at the latest); the answer is the
best-scoring finished path. Sampling seeds derive from (seed, task, node slot, turn). Tasks
advance in lockstep, every depth's policy and reward-model calls batched across them.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field
from typing import Any


from agentprm_bench.agents.base import History, Policy
from agentprm_bench.agents.rollout import record_step, step_seed
from agentprm_bench.agents.trajectory import Step
from agentprm_bench.search.compute import SearchCompute
from agentprm_bench.search.scorers import StepScorer
from agentprm_bench.envs import make_env


@dataclass
class Node:
    env: Any
    history: History
    steps: list[Step] = field(default_factory=list)
    score: float = float("-inf")
    reward: float = 0.0
    done: bool = False
    won: bool = False
    rm_state: Any = None  # the reward model's cache of this path (``score_extensions``), if it keeps one
    policy_state: Any = None  # the policy's cache of the path's last prompt + reply (``act_cached``), if kept


@dataclass(frozen=True)
class BeamResult:
    best: Node
    finished: list[Node]
    compute: SearchCompute


def beam_search(env_id: str, task_id: int, policy: Policy, scorer: StepScorer, width: int, expand: int,
                seed: int, env_kwargs: dict[str, Any] | None = None, cached: bool = True) -> BeamResult:
    """Beam search on one task (``beam_search_many`` with one task)."""
    (best, finished), compute = beam_search_many(env_id, [task_id], policy, scorer, width, expand, seed,
                                                 env_kwargs, cached)
    return BeamResult(best[0], finished[0], compute)


def beam_search_many(env_id: str, task_ids: list[int], policy: Policy, scorer: StepScorer, width: int,
                     expand: int, seed: int, env_kwargs: dict[str, Any] | None = None,
                     cached: bool = True) -> tuple[tuple[list[Node], list[list[Node]]], SearchCompute]:
    """Beam search on several tasks in lockstep: at every depth, the live nodes of ALL tasks go to
    the policy in one call and to the reward model in one call (it bounds its own batches by
    tokens). Every live node is at the same depth, so the root's N*M and later M samples per node
    apply to all; seeds are per (task, slot, turn), so each task's search is the one it would be
    alone. -> ((best node per task, finished nodes per task), compute of all tasks together)."""
    if width < 1 or expand < 1:
        raise ValueError(f"beam search needs width >= 1 and expand >= 1, got {width} x {expand}")
    t_start, compute = time.perf_counter(), SearchCompute()
    beams: list[list[Node]] = []  # live nodes per task
    for task_id in task_ids:
        env = make_env(env_id, **(env_kwargs or {}))
        obs, info = env.reset(options={"task_id": task_id})
        beams.append([Node(env, History(env_id, task_id, [obs], [], info["admissible_actions"], env))])
    finished: list[list[Node]] = [[] for _ in task_ids]
    depth = 0
    while any(beams):
        k = width * expand if depth == 0 else expand
        live = [(t, node) for t, beam in enumerate(beams) for node in beam]
        seeds = [step_seed(seed, task_ids[t], slot, node.history.turn)
                 for t, beam in enumerate(beams) for slot, node in enumerate(beam)]
        if cached and hasattr(policy, "act_cached"):  # each path's prompt cache kept: only new tokens are read
            samples, kept = policy.act_cached([n.history for _, n in live], k, seeds,
                                              [n.policy_state for _, n in live])
        else:
            samples, kept = policy.act([n.history for _, n in live], k, seeds), None
        candidates: list[list[str]] = []
        children: list[list[Node]] = [[] for _ in task_ids]
        for i, ((t, node), row) in enumerate(zip(live, samples)):
            unique: dict[str, Any] = {}
            for j, s in enumerate(row):
                compute.policy_tokens_out += s.tokens_out
                compute.policy_tokens_in += s.tokens_in
                unique.setdefault(s.action, (s, kept[i][j] if kept else None))
            candidates.append(list(unique))
            for s, state in unique.values():
                child = _step_copy(node, s)
                child.policy_state = state
                children[t].append(child)
                compute.env_steps += 1
                compute.trajectories += 1
        flat = [c for kids in children for c in kids]  # live runs task by task: the scorer's candidate order
        if cached and hasattr(scorer, "score_extensions"):  # each path's cache kept: O(T) tokens per path
            scores, tokens, states = scorer.score_extensions(
                env_id, [(n.history.observations, n.history.actions, n.rm_state) for _, n in live], candidates)
            for child, state in zip(flat, (st for row in states for st in row)):
                child.rm_state = state
        else:
            scores, tokens = scorer.score_expansions(
                env_id, [(n.history.observations, n.history.actions) for _, n in live], candidates)
        compute.rm_tokens += tokens
        for child, value in zip(flat, (v for row in scores for v in row)):
            child.score = value
        for t, kids in enumerate(children):
            ranked = sorted(kids, key=lambda c: -c.score)[:width]  # stable: earlier candidates win ties
            for c in ranked:
                if c.done:
                    c.rm_state = c.policy_state = None  # a finished path is not extended: free its caches
            finished[t] += [c for c in ranked if c.done]
            beams[t] = [c for c in ranked if not c.done]
        depth += 1
    compute.wall_time_s = time.perf_counter() - t_start
    best = [max(f, key=lambda n: n.score) for f in finished]  # max keeps the first of equal scores
    return (best, finished), compute


def _step_copy(node: Node, sample: Any) -> Node:
    """A child: the node's env copied (``snapshot``: its state, or a pickled copy replaying its
    actions where the env has no snapshot) and stepped with the sample."""
    env = node.env.snapshot() if hasattr(node.env, "snapshot") else pickle.loads(pickle.dumps(node.env))
    h = node.history
    obs, reward, terminated, truncated, info = env.step(sample.action)
    done = bool(terminated or truncated)
    step = record_step(h.observations[-1], sample, float(reward), done, info)
    history = History(h.env_id, h.task_id, h.observations + [obs], h.actions + [sample.action],
                      info["admissible_actions"], env)
    return Node(env, history, node.steps + [step], reward=node.reward + float(reward), done=done,
                won=bool(info["won"]))
