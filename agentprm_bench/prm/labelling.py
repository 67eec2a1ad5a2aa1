"""The label stage: trajectories in, ``labels.jsonl`` out, with the compute the labels cost.

* ``td-gae``: the first ``n_td`` sampled trajectories of each task. Their targets depend on
  the reward model being trained, so training recomputes them every iteration (no extra
  rollouts); the file stores iteration-0 targets (a zero-initialised head scores 0).
  Cost: the sampling of those trajectories.
* ``mc``: one seed trajectory per task (its sample 0) and ``n_mc`` policy rollouts after
  every step but the last (whose value is the episode's own outcome). Hard target: 1 if any
  rollout succeeds; soft: the mean final reward. Cost: the seed trajectories plus every
  rollout. Rollouts are appended to ``mc_rollouts.jsonl`` as they finish, so a killed run
  resumes without redoing them.

Label record (one line per trajectory): env_id, task_id, sample_index, observations (o_0 ..
o_T), actions, rewards (r_t), final_reward, won, method, q (the training target), and for
``mc`` q_hard and q_soft. ``label_config.json`` holds the config, provenance and compute.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.rollout import rollout
from agentprm_bench.agents.trajectory import Trajectory, read_trajectories
from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import append_records, read_records, repair_tail, write_text_atomic
from agentprm_bench.locks import exclusive
from agentprm_bench.schema import fits
from agentprm_bench.prm.labels import mc_targets, td_gae_targets
from agentprm_bench.provenance import stamp

log = logging.getLogger(__name__)
LABELS = "labels.jsonl"
LABEL_CONFIG = "label_config.json"
MC_ROLLOUTS = "mc_rollouts.jsonl"


@dataclass(frozen=True)
class LabelConfig:
    method: str  # "td-gae" | "mc"
    gamma: float = 1.0
    lam: float = 0.95
    n_td: int = 16
    n_mc: int = 16
    mc_target: str = "soft"  # which MC target is ``q``: "soft" | "hard"
    policy: str = "hf"  # the rollout policy for mc
    policy_options: dict[str, Any] = field(default_factory=dict)
    tasks: int | None = None  # mc: seed trajectories of the first N tasks only (None: all)
    seed: int = 0
    batch_size: int = 32


@dataclass(frozen=True)
class LabelCompute:
    sampled_tokens: int  # policy tokens generated to make these labels
    prompt_tokens: int  # policy prompt tokens read
    env_steps: int
    trajectories: int  # labelled trajectories
    rollouts: int  # extra MC rollouts


def label_record(t: Trajectory, method: str, q: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {"env_id": t.env_id, "task_id": t.task_id, "sample_index": t.sample_index,
            "observations": t.observations, "actions": t.actions, "rewards": [s.reward for s in t.steps],
            "final_reward": t.final_reward, "won": t.won, "method": method,
            "q": [float(x) for x in q], **{k: [float(x) for x in v] for k, v in extra.items()}}


def make_labels(trajectories_path: str | Path, out_dir: str | Path, config: LabelConfig,
                progress: bool = True) -> Path:
    if config.method not in ("td-gae", "mc"):
        raise UserError(f"unknown label method {config.method!r}; use td-gae or mc")
    with exclusive(out_dir):  # one labeller per directory
        return _make_labels(Path(trajectories_path), Path(out_dir), config, progress)


def _make_labels(trajectories_path: Path, out: Path, config: LabelConfig, progress: bool) -> Path:
    trajs = sorted(read_trajectories(Path(trajectories_path)), key=lambda t: t.key)
    if not trajs:
        raise UserError(f"{trajectories_path} holds no trajectories; run `agentprm-bench collect` first")
    if config.method == "td-gae":
        chosen = [t for t in trajs if t.sample_index < config.n_td]
        records = [label_record(t, "td-gae", td_gae_targets(np.zeros(len(t.steps)), np.array(
            [s.reward for s in t.steps]), config.gamma, config.lam)) for t in chosen]
        compute = LabelCompute(sum(t.compute.policy_tokens_out for t in chosen),
                               sum(t.compute.policy_tokens_in for t in chosen),
                               sum(t.compute.env_steps for t in chosen), len(chosen), 0)
    else:
        records, compute = _mc_labels(trajs, out, config, progress)
    tmp = out / (LABELS + ".tmp")
    tmp.unlink(missing_ok=True)
    append_records(tmp, records)
    os.replace(tmp, out / LABELS)
    write_text_atomic(out / LABEL_CONFIG, json.dumps(
        {"config": asdict(config), "source": str(trajectories_path), "compute": asdict(compute),
         **stamp()}, indent=2) + "\n")
    return out / LABELS


def mc_rollout_seed(seed: int) -> int:
    """The run seed of Monte-Carlo rollouts: its own namespace, so that rollout 0 after step 0
    does not share the seed trajectory's step seeds (it would replay that trajectory exactly)."""
    return int(np.random.SeedSequence([seed, 0x4D43]).generate_state(1, np.uint64)[0] >> 1)


def _mc_labels(trajs: list[Trajectory], out: Path, config: LabelConfig,
               progress: bool) -> tuple[list[dict[str, Any]], LabelCompute]:
    seeds = [t for t in trajs if t.sample_index == 0][: config.tasks]
    path = out / MC_ROLLOUTS
    repair_tail(path)
    done: dict[tuple[int, int, int], dict[str, Any]] = {}
    if path.exists():
        for r in read_records(path, dict, what="MC rollout record"):
            done[(r["task_id"], r["step"], r["index"])] = r
    jobs = [(t.task_id, step * config.n_mc + j, tuple(t.actions[: step + 1]))
            for t in seeds for step in range(len(t.steps) - 1) for j in range(config.n_mc)
            if (t.task_id, step, j) not in done]
    if jobs:
        policy = make_policy(config.policy, **config.policy_options)

        def write(r: Trajectory) -> None:
            step, j = divmod(r.sample_index, config.n_mc)
            rec = {"task_id": r.task_id, "step": step, "index": j, "final_reward": r.final_reward, "won": r.won,
                   "tokens_out": r.compute.policy_tokens_out, "tokens_in": r.compute.policy_tokens_in,
                   "env_steps": r.compute.env_steps}
            done[(r.task_id, step, j)] = rec
            append_records(path, [rec])

        rollout(seeds[0].env_id, policy, jobs, mc_rollout_seed(config.seed), write, batch_size=config.batch_size,
                progress=progress, total=len(jobs))
    by_step: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for (task, step, _), r in done.items():
        by_step[(task, step)].append(r)
    records = []
    for t in seeds:
        outcomes = np.zeros((len(t.steps), config.n_mc))
        wins = np.zeros((len(t.steps), config.n_mc), dtype=bool)
        for step in range(len(t.steps) - 1):
            rs = sorted(by_step[(t.task_id, step)], key=lambda r: r["index"])[: config.n_mc]
            outcomes[step], wins[step] = [r["final_reward"] for r in rs], [r["won"] for r in rs]
        outcomes[-1], wins[-1] = t.final_reward, t.won  # the last step's value is the outcome itself
        hard, soft = mc_targets(outcomes, wins)
        records.append(label_record(t, "mc", hard if config.mc_target == "hard" else soft, q_hard=hard, q_soft=soft))
    used = [r for (task, _, _), r in done.items() if task in {t.task_id for t in seeds}]
    compute = LabelCompute(
        sum(t.compute.policy_tokens_out for t in seeds) + sum(r["tokens_out"] for r in used),
        sum(t.compute.policy_tokens_in for t in seeds) + sum(r["tokens_in"] for r in used),
        sum(t.compute.env_steps for t in seeds) + sum(r["env_steps"] for r in used), len(seeds), len(used))
    return records, compute


LABEL_FIELDS: dict[str, Any] = {"env_id": str, "task_id": int, "observations": list[str], "actions": list[str],
                                "rewards": list[float], "final_reward": float, "won": bool, "q": list[float]}


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    def check(d: dict[str, Any]) -> dict[str, Any]:
        for key, hint in LABEL_FIELDS.items():
            if key not in d:
                raise KeyError(key)
            if not fits(d[key], hint):
                raise TypeError(f"{key} has the wrong type ({type(d[key]).__name__})")
        if not (len(d["actions"]) == len(d["rewards"]) == len(d["q"]) == len(d["observations"]) - 1):
            raise ValueError("observations, actions, rewards and q lengths disagree")
        return d

    return list(read_records(Path(path), check, what="label record"))
