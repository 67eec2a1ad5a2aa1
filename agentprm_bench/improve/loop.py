"""``improve``: the actor-critic loop of Choudhury (2025), with an outcome-only baseline.

Each iteration k = 1..K, in ``OUT/iter-k/``:
1. roll out the current policy on the first ``tasks`` train tasks, ``samples`` each (``collect``);
2. (process rewards) label them and train the reward model on them, from the current policy's
   backbone, exactly as the default reward models are built (``make_labels``,
   ``train_reward_model``; InversePRM also takes oracle demonstrations of the same tasks);
3. update the policy: step-level online DPO against that reward model (``updates.dpo_update``)
   at up to ``states`` visited states; or, for ``--reward outcome``, rejection fine-tuning on the
   successful trajectories (``updates.rft_update``; no reward model, the same rollouts);
4. test the new policy: one sample per test task (temperature 1.0, the same tasks and seeds at
   every iteration and for every reward), scored by the env's metric (success; BabyAI: mean
   reward), appended to ``OUT/improve.jsonl`` with the iteration's compute. Iteration 0 is the starting policy, tested the same way.
Every stage resumes: collect, labels and reward-model training resume themselves, a policy
update is written atomically, an iteration with a record is skipped; a different config in
the same OUT is refused.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from agentprm_bench.agents.base import History
from agentprm_bench.agents.bc import replay
from agentprm_bench.agents.collect import CollectConfig, collect
from agentprm_bench.agents.hf import HFPolicy
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.agents.trajectory import Trajectory, read_trajectories
from agentprm_bench.envs import first_tasks, resolve_env
from agentprm_bench.errors import UserError
from agentprm_bench.improve.updates import UpdateSettings, dpo_update, rft_update
from agentprm_bench.jsonl import append_records, read_records, write_text_atomic
from agentprm_bench.locks import exclusive
from agentprm_bench.provenance import stamp
from agentprm_bench.schema import file_digest
from agentprm_bench.search.methods import METHODS

log = logging.getLogger(__name__)
RECORDS = "improve.jsonl"
CONFIG = "improve_config.json"
REWARDS = ("agentprm", "agentprm-beta0", "pvm", "orm", "mc-prm", "inverse-prm", "outcome")


@dataclass(frozen=True)
class ImproveConfig:
    env: str
    reward: str = "agentprm"  # a reward-model method (REWARDS) or "outcome" (rejection fine-tuning)
    iterations: int = 3
    out: str = "runs/improve"
    policy: str | None = None  # the starting policy dir (None: the env's default)
    tasks: int = 64  # first N train tasks rolled out each iteration
    samples: int = 4  # rollouts per task per iteration (temperature ``temperature``)
    temperature: float = 1.0
    states: int = 256  # DPO: visited states (at most) where M actions are sampled and paired
    m: int = 4  # DPO: actions sampled per state
    beta: float = 0.1  # DPO: inverse temperature of the preference model
    lr: float = 1e-4
    epochs: int = 2
    batch_size: int = 16
    rm_iterations: int = 2  # reward model: TD-target refreshes (as the defaults)
    rm_epochs: int = 1
    mc_tasks: int = 24  # mc-prm: seed trajectories labelled by Monte-Carlo rollouts
    n_mc: int = 4
    test_tasks: int | None = None  # first N test tasks (None: the whole test split)
    seed: int = 0

    def checked(self) -> "ImproveConfig":
        if self.reward not in REWARDS:
            raise UserError(f"unknown --reward {self.reward!r}; choose one of {', '.join(REWARDS)}")
        if self.iterations < 1 or self.tasks < 1 or self.samples < 1 or self.m < 2 or self.states < 1:
            raise UserError("--iterations, --tasks, --samples and --states must be >= 1, --m >= 2")
        return replace(self, env=resolve_env(self.env).env_id)


def improve(cfg: ImproveConfig, progress: bool = True, dpo_procs: int = 1) -> list[dict[str, Any]]:
    """Run (or resume) the loop; returns every iteration's record (0..K). ``dpo_procs`` > 1 trains
    each DPO step under torchrun (``improve.dpo_dist``): how, not what, so not part of the config."""
    cfg = cfg.checked()
    out = Path(cfg.out)
    with exclusive(out):
        _check_config(out, cfg)
        return _improve(cfg, out, progress, dpo_procs)


def _improve(cfg: ImproveConfig, out: Path, progress: bool, dpo_procs: int = 1) -> list[dict[str, Any]]:
    from agentprm_bench.defaults import ensure_default_policy

    start = Path(cfg.policy) if cfg.policy else ensure_default_policy(cfg.env, progress)
    done = {r["iteration"]: r for r in _records(out)}
    if 0 not in done:
        done[0] = _record(cfg, out, 0, start, {}, progress)
    policy = start
    for k in range(1, cfg.iterations + 1):
        it = out / f"iter-{k}"
        new = it / "policy"
        if k in done:
            policy = Path(done[k]["policy"])
            continue
        seed = cfg.seed * 1000 + k
        sampling = {"model": str(policy), "temperature": cfg.temperature}
        rollouts = collect(CollectConfig(cfg.env, "hf", "train", cfg.samples, cfg.tasks, seed=seed,
                                         policy_options=sampling), it / "rollouts", progress=progress)
        trajs = list(read_trajectories(rollouts))
        compute = {"env_steps": sum(t.compute.env_steps for t in trajs),
                   "policy_tokens_in": sum(t.compute.policy_tokens_in for t in trajs),
                   "policy_tokens_out": sum(t.compute.policy_tokens_out for t in trajs),
                   "rollout_success": sum(t.won for t in trajs) / max(1, len(trajs))}
        settings = UpdateSettings(lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size, beta=cfg.beta, m=cfg.m,
                                  temperature=cfg.temperature, seed=seed, procs=dpo_procs)
        if cfg.reward == "outcome":
            examples = [(_history(t, i), t.actions[i]) for t in trajs if t.won for i in range(len(t.steps))]
            update = _load_update(new) or rft_update(policy, new, examples, settings, progress)
        else:
            rm_dir, rm_compute = _reward_model(cfg, policy, rollouts, it, seed, progress)
            compute.update(rm_compute)
            update = _load_update(new)
            if update is None:  # a finished update (resume) needs neither the replays nor the reward model
                from agentprm_bench.prm.model import RewardModel

                states, replay_steps = _states(trajs, cfg.states, seed)
                rm = RewardModel.load(rm_dir)
                update = dpo_update(policy, new, states, rm.score_expansions, settings, progress)
                update["replay_env_steps"] = replay_steps  # replays recovering each state's admissible actions
            compute["env_steps"] += update["replay_env_steps"]
        write_text_atomic(it / "update.json", json.dumps(update, indent=2) + "\n")
        for key in ("policy_tokens_in", "policy_tokens_out"):
            compute[key] += update.get(key, 0)
        compute["rm_tokens"] = compute.get("rm_tokens", 0) + update.get("rm_tokens", 0)
        compute["policy_train_tokens"] = update.get("train_tokens", 0)
        compute["update"] = {k: v for k, v in update.items() if k not in ("policy_tokens_in", "policy_tokens_out")}
        done[k] = _record(cfg, out, k, new, compute, progress)
        policy = new
    return [done[k] for k in sorted(done) if k <= cfg.iterations]


def _reward_model(cfg: ImproveConfig, policy: Path, rollouts: Path, it: Path, seed: int,
                  progress: bool) -> tuple[Path, dict[str, Any]]:
    """The iteration's reward model (built as the defaults are, on this iteration's rollouts)."""
    from agentprm_bench.defaults import _finished
    from agentprm_bench.prm.labelling import LABELS, LabelConfig, make_labels
    from agentprm_bench.prm.model import RM_META
    from agentprm_bench.prm.train import TrainConfig, train_reward_model

    method = METHODS.get(cfg.reward)
    labels_dir = it / f"labels-{method.labels}"
    if not (labels_dir / LABELS).is_file():
        sampling = {"model": str(policy), "temperature": cfg.temperature}
        lcfg = LabelConfig(method="td-gae", n_td=cfg.samples) if method.labels == "td-gae" else \
            LabelConfig(method="mc", n_mc=cfg.n_mc, tasks=cfg.mc_tasks, policy="hf", policy_options=sampling,
                        seed=seed)
        make_labels(rollouts, labels_dir, lcfg, progress=progress)
    expert = None
    if method.expert:
        expert = str(collect(CollectConfig(cfg.env, "oracle", "train", 1, cfg.tasks), Path(cfg.out) / "expert",
                             progress=progress))
    rm_dir = it / "rm"
    if not _finished(rm_dir / RM_META):
        train_reward_model(TrainConfig(rm=method.rm, labels=str(labels_dir / LABELS), backbone=str(policy),
                                       expert=expert, beta=method.beta, iterations=cfg.rm_iterations,
                                       epochs=cfg.rm_epochs, seed=seed), rm_dir, progress=progress)
    meta = json.loads((rm_dir / RM_META).read_text())
    label = meta.get("label_compute") or {}
    mc_steps = label.get("env_steps", 0) if method.labels == "mc" else 0  # td-gae labels cost no extra steps
    return rm_dir, {"label_env_steps": mc_steps, "label_policy_tokens": label.get("sampled_tokens", 0)
                    if method.labels == "mc" else 0, "rm_train_tokens": meta.get("metrics", {}).get("train_tokens", 0)}


def _history(t: Trajectory, i: int, admissible: list[str] | None = None) -> History:
    return History(t.env_id, t.task_id, t.observations[: i + 1], t.actions[:i], admissible or [])


def _states(trajs: list[Trajectory], n: int, seed: int) -> tuple[list[History], int]:
    """Up to ``n`` visited states (seeded choice), with their admissible actions from a replay."""
    where = [(j, i) for j, t in enumerate(trajs) for i in range(len(t.steps))]
    chosen = sorted(random.Random(seed).sample(where, min(n, len(where))))
    replays: dict[int, list[tuple[list[str], str]]] = {}
    steps = 0
    for j in sorted({j for j, _ in chosen}):
        replays[j] = replay(trajs[j])
        steps += len(trajs[j].steps)
    return [_history(trajs[j], i, replays[j][i][0]) for j, i in chosen], steps


def _record(cfg: ImproveConfig, out: Path, k: int, policy: Path, compute: dict[str, Any],
            progress: bool) -> dict[str, Any]:
    """Test ``policy`` (one sample per test task, temperature 1.0) and append the iteration's record."""
    entry = resolve_env(cfg.env)
    tasks = first_tasks(entry, "test", cfg.test_tasks)
    trajs = collect_in_memory(entry.env_id, HFPolicy(str(policy), temperature=1.0), tasks, 1, cfg.seed,
                              env_kwargs={"split": "test"}, progress=progress)
    won, rewards = [float(t.won) for t in trajs], [float(t.final_reward) for t in trajs]
    values = won if entry.metric == "success" else rewards  # the env's metric (BabyAI: mean reward)
    record = {"kind": "improve", "config": asdict(cfg), "iteration": k, "policy": str(policy),
              "weights_sha256": file_digest(policy / "model.safetensors"),
              "test": {"split": "test", "task_ids": [t.task_id for t in trajs], "won": won, "rewards": rewards,
                       "metric": entry.metric, "values": values, "value": sum(values) / max(1, len(values)),
                       "success": sum(won) / max(1, len(won)), "mean_reward": sum(rewards) / max(1, len(rewards)),
                       "env_steps": sum(t.compute.env_steps for t in trajs)},
              "compute": compute, **stamp()}
    append_records(out / RECORDS, [record])
    return record


def _records(out: Path) -> list[dict[str, Any]]:
    path = out / RECORDS
    return list(read_records(path, lambda d: d, what="improve record")) if path.is_file() else []


def _load_update(new: Path) -> dict[str, Any] | None:
    """A finished update's metrics (the policy dir exists only once it is complete)."""
    done = new.parent / "update.json"
    return json.loads(done.read_text()) if new.is_dir() and done.is_file() else None


def _check_config(out: Path, cfg: ImproveConfig) -> None:
    path = out / CONFIG
    if path.is_file():
        stored = json.loads(path.read_text()).get("config")
        if stored != asdict(cfg):
            raise UserError(f"{out} holds an improve run with another config; choose another --out or delete it")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({"config": asdict(cfg), **stamp()}, indent=2) + "\n")
