"""``agentprm-bench run``: one search run (method x budget x search) on one env, one result record.

Reads top to bottom: resolve the method and env -> the policy (a model dir, a scripted policy
name, or the embedded default) -> the reward model (a checkpoint dir or the embedded default,
built on first use) -> Best-of-N over the shared sample pool, or beam search per task ->
per-task results, bootstrap CI and compute -> append the record to OUT/results.jsonl.

Sample pools live in ``$AGENTPRM_BENCH_HOME/pools``: one collection per (env, split, policy
and its sampling settings, seed), extended on demand, so BoN@N for every N and every method
reads the same draws. A rerun re-scores cached samples: its wall time is the sampling time
recorded with each trajectory plus the scoring time measured now.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from agentprm_bench.agents.base import POLICIES, Policy, make_policy
from agentprm_bench.agents.rollout import env_version
from agentprm_bench.agents.trajectory import Trajectory, read_trajectories
from agentprm_bench.envs import EnvEntry, first_tasks, resolve_env
from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import append_records, repair_tail
from agentprm_bench.locks import exclusive, writable_dir
from agentprm_bench.paths import home, model_fingerprint
from agentprm_bench.progress import bar as progress_bar
from agentprm_bench.provenance import stamp
from agentprm_bench.search.bon import aggregate, sampling_compute, select
from agentprm_bench.search.compute import SearchCompute
from agentprm_bench.search.methods import METHODS, Method
from agentprm_bench.search.partial import Group, finished_groups, partial_file, save_group
from agentprm_bench.search.results import RESULTS, ResultRecord, TaskResult, bootstrap_ci
from agentprm_bench.search.scorers import StepScorer

log = logging.getLogger(__name__)
SEARCHES = ("bon", "beam")
BEAM_NODES = 64  # beam search: candidate paths per batched depth, summed over the tasks searched together


@dataclass(frozen=True)
class RunConfig:
    method: str = "agentprm"
    budget: int = 32
    env: str = "textcraft"
    search: str = "bon"
    policy: str | None = None  # a local model dir (hf), a scripted policy name, or None: the default
    reward_model: str | None = None  # a checkpoint dir, or None: the default for the method
    tasks: int = 10  # the first N tasks of the split
    split: str = "test"
    seed: int = 0
    temperature: float = 0.7
    aggregate: str = "last"  # BoN: last | min | mean
    expand: int = 4  # beam: M actions per node; N = budget // M
    out: str = "runs"
    backend: str | None = None  # how a model is sampled: None / "hf" (transformers) or "vllm" (offline engine)
    base_url: str | None = None  # an OpenAI-compatible server (`vllm serve`) to sample from instead


def beam_shape(budget: int, expand: int) -> tuple[int, int]:
    """(N, M) of a beam search of budget N*M: M = min(expand, budget), N = budget // M."""
    m = max(1, min(expand, budget))
    return max(1, budget // m), m


def run(cfg: RunConfig, progress: bool = True, scorer: StepScorer | None = None,
        policy: Policy | None = None) -> ResultRecord:
    """Run, append and return the record. ``scorer`` / ``policy`` objects replace the
    configured ones (tests pass scripted ones)."""
    method, entry = METHODS.get(cfg.method), resolve_env(cfg.env)
    if cfg.budget < 1:
        raise UserError(f"--budget must be >= 1, got {cfg.budget}")
    if cfg.search not in SEARCHES:
        raise UserError(f"unknown search {cfg.search!r}; choose bon or beam")
    if cfg.search == "beam" and method.rm is None:
        raise UserError(f"beam search needs a reward model; method {method.name} has none (use --search bon)")
    task_ids = first_tasks(entry, cfg.split, cfg.tasks)  # before any default is built
    writable_dir(cfg.out)  # an unusable --out fails now, not after the search
    given_policy = policy
    policy_name, options = _policy_spec(cfg, entry, method, progress) if policy is None else (policy.name, {})
    if policy is None and cfg.search == "beam":  # Best-of-N samples in ``collect`` (one engine, not two)
        policy = make_policy(policy_name, **options)
    rm_id = None
    if method.rm is not None and scorer is None:
        scorer, rm_id = _reward_model(cfg, entry, method, progress)
    elif scorer is not None:
        rm_id = {"scorer": type(scorer).__name__}
    budget = 1 if method.name == "greedy" else cfg.budget
    partial = None  # beam: where finished task groups are kept, if the run loaded its own models
    if cfg.search == "beam":
        described = policy.describe()
        if given_policy is None and rm_id is not None and "path" in rm_id:
            partial = partial_file(cfg.out, {"config": {k: v for k, v in asdict(cfg).items() if k != "out"},
                                             "policy": described, "reward_model": rm_id, "nodes": BEAM_NODES,
                                             **stamp()})
        tasks, compute, width, expand = _beam(cfg, entry, policy, scorer, task_ids, progress, partial)
        search = "beam"
    else:
        pool = _pool(cfg, entry, policy_name, options, task_ids, budget, progress) if given_policy is None else \
            _memory_pool(cfg, entry, given_policy, task_ids, budget)
        tasks, compute = _best_of_n(cfg, method, scorer, pool, task_ids, budget, progress)
        described = policy.describe() if policy is not None else pool[task_ids[0]][0].policy
        width, expand = budget, 1
        search = "bon" if method.rm or method.name == "oracle-select" else "sample"
    values = [t.success if entry.metric == "success" else t.reward for t in tasks]
    lo, hi = bootstrap_ci(values, seed=cfg.seed)
    record = ResultRecord(
        method=method.name, reward_model=rm_id, policy=described, env_id=entry.env_id,
        env_version=env_version(entry.env_id), split=cfg.split, search=search, budget=budget, width=width,
        expand=expand, aggregate=cfg.aggregate, metric=entry.metric, value=float(np.mean(values)), ci_low=lo,
        ci_high=hi, success_rate=float(np.mean([t.success for t in tasks])),
        mean_reward=float(np.mean([t.reward for t in tasks])), tasks=tuple(tasks),
        compute={k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(compute).items()},
        config=asdict(cfg), seed=cfg.seed, **stamp())
    out = Path(cfg.out)
    with exclusive(out):  # one appending writer at a time
        repair_tail(out / RESULTS)
        append_records(out / RESULTS, [record.to_json()])
    if partial is not None:
        partial.unlink(missing_ok=True)  # the record holds it all now
    return record


def _policy_spec(cfg: RunConfig, entry: EnvEntry, method: Method, progress: bool) -> tuple[str, dict[str, Any]]:
    temperature = 0.0 if method.name == "greedy" else cfg.temperature
    if cfg.backend not in (None, "hf", "vllm"):
        raise UserError(f"--backend must be hf or vllm, got {cfg.backend!r}")
    if cfg.policy is not None and cfg.policy in POLICIES and cfg.policy not in ("hf", "vllm"):
        if cfg.backend or cfg.base_url:
            raise UserError(f"--policy {cfg.policy} is scripted; --backend/--base-url need a model directory")
        return cfg.policy, {}
    if cfg.policy is not None:
        if not (Path(cfg.policy).expanduser() / "config.json").is_file():
            raise UserError(f"--policy {cfg.policy!r} is neither a local model directory (no config.json) nor a "
                            f"scripted policy ({', '.join(n for n in POLICIES.names() if n not in ('hf', 'vllm'))})")
        model = str(Path(cfg.policy).expanduser().resolve())
    else:
        from agentprm_bench.defaults import ensure_default_policy

        model = str(ensure_default_policy(entry.env_id, progress))
    if cfg.base_url:  # the server samples; the local directory gives the chat template and prompt budget
        return "vllm", {"model": model, "base_url": cfg.base_url, "temperature": temperature}
    return cfg.backend or "hf", {"model": model, "temperature": temperature}


def _reward_model(cfg: RunConfig, entry: EnvEntry, method: Method, progress: bool) -> tuple[Any, dict[str, Any]]:
    from agentprm_bench.prm.model import RewardModel

    if cfg.reward_model is None:
        from agentprm_bench.defaults import ensure_default_reward_model

        path, default = ensure_default_reward_model(entry.env_id, method, progress, seed=cfg.seed), True
    else:
        path, default = Path(cfg.reward_model).expanduser().resolve(), False
    rm = RewardModel.load(path)
    if rm.meta.get("kind") != method.rm:
        raise UserError(f"{path} holds a {rm.meta.get('kind')!r} reward model but --method {method.name} needs "
                        f"{method.rm!r}; pass a matching --reward-model or another --method")
    beta = rm.meta.get("train_config", {}).get("beta")
    metrics = rm.meta.get("metrics") if isinstance(rm.meta.get("metrics"), dict) else {}
    return rm, {"path": str(path), "weights_sha256": rm.meta.get("weights_sha256"), "kind": rm.meta.get("kind"),
                "label_method": rm.meta.get("label_method"),
                "beta": beta, "default": default,
                # what building the reward model cost: its labels (policy tokens sampled for them) and training
                "label_compute": rm.meta.get("label_compute"), "train_tokens": metrics.get("train_tokens")}


# Bumped when the same policy and options sample differently than before, so older pools are not reused.
# 2: policies load their own tokenizer (fbcc60f).
# 3: hf rollouts keep the prompt's KV cache across turns; ``tokens_in`` counts prompt tokens computed.
POOL_BUILD = 3


def _pool(cfg: RunConfig, entry: EnvEntry, policy_name: str, options: dict[str, Any], task_ids: list[int],
          samples: int, progress: bool) -> dict[int, list[Trajectory]]:
    """Samples 0..samples-1 of each task from the shared pool, sampling what is missing."""
    from agentprm_bench.agents.collect import CollectConfig, collect

    weights = model_fingerprint(options["model"]) if options.get("model") else None  # a retrained model: a new pool
    identity = json.dumps([entry.env_id, cfg.split, policy_name, options, cfg.seed, POOL_BUILD]
                          + ([weights] if weights else []), sort_keys=True)
    where = home() / "pools" / f"{entry.short_name}-{cfg.split}-{hashlib.sha1(identity.encode()).hexdigest()[:12]}"
    from agentprm_bench.defaults import PHASE_TIMES, timed

    with timed(f"{samples * len(task_ids)} test samples") if PHASE_TIMES else nullcontext():
        path = collect(CollectConfig(entry.env_id, policy_name, cfg.split, samples, len(task_ids), cfg.seed,
                                     policy_options=options), where, progress=progress)
    return _by_task(read_trajectories(path), task_ids, samples)


def _by_task(trajs: Iterable[Trajectory], task_ids: list[int], samples: int) -> dict[int, list[Trajectory]]:
    """Samples 0..samples-1 of each task, in sample order."""
    pool: dict[int, list[Trajectory]] = {t: [] for t in task_ids}
    for traj in trajs:
        if traj.task_id in pool and traj.sample_index < samples:
            pool[traj.task_id].append(traj)
    for t in task_ids:
        pool[t].sort(key=lambda x: x.sample_index)
    return pool


def _memory_pool(cfg: RunConfig, entry: EnvEntry, policy: Policy, task_ids: list[int],
                 samples: int) -> dict[int, list[Trajectory]]:
    """An uncached pool for a policy object handed in by the caller."""
    from agentprm_bench.agents.rollout import collect_in_memory

    return _by_task(collect_in_memory(entry.env_id, policy, task_ids, samples, cfg.seed,
                                      env_kwargs={"split": cfg.split}), task_ids, samples)


def _best_of_n(cfg: RunConfig, method: Method, scorer: StepScorer | None, pool: dict[int, list[Trajectory]],
               task_ids: list[int], n: int, progress: bool) -> tuple[list[TaskResult], SearchCompute]:
    used = [t for tid in task_ids for t in pool[tid]]
    compute = sampling_compute(used)
    results = []
    if method.name == "oracle-select":  # privileged: the best true outcome among the n (pass@n for success)
        for tid in task_ids:
            trajs = pool[tid]
            best = select([t.final_reward + t.won for t in trajs])
            results.append(TaskResult(tid, trajs[best].final_reward, float(trajs[best].won), trajs[best].sample_index))
        return results, compute
    if scorer is None:  # none / greedy: the expected outcome of one sample, estimated over the n drawn
        for tid in task_ids:
            trajs = pool[tid]
            results.append(TaskResult(tid, float(np.mean([t.final_reward for t in trajs])),
                                      float(np.mean([t.won for t in trajs]))))
        c = compute  # charged one sample per task: the cost of the estimate's unit, not of the n draws
        return results, SearchCompute(round(c.policy_tokens_out / n), round(c.policy_tokens_in / n), 0,
                                      round(c.env_steps / n), len(task_ids), c.wall_time_s / n)
    scored = _score_cached(scorer, used)
    compute.wall_time_s += sum(seconds for _, _, seconds in scored)
    it = iter((values, tokens) for values, tokens, _ in scored)
    for tid in progress_bar(task_ids, desc=f"BoN@{n} {method.name}", disable=not progress):
        trajs = pool[tid]
        steps = [next(it) for _ in trajs]
        compute.rm_tokens += sum(tokens for _, tokens in steps)
        scores = [aggregate(s, cfg.aggregate) for s, _ in steps]
        best = select(scores)
        results.append(TaskResult(tid, trajs[best].final_reward, float(trajs[best].won), trajs[best].sample_index,
                                  scores[best], float(np.mean([t.final_reward for t in trajs])),
                                  float(np.mean([t.won for t in trajs]))))
    return results, compute


# (checkpoint, env, task, sample, policy, seed) -> (step scores, tokens read, seconds): within one
# process a sweep scores each pooled sample once per reward model; every run is still charged
# the full scoring cost (tokens and its share of the measured time) of the samples it uses.
_SCORES: dict[tuple, tuple[np.ndarray, int, float]] = {}


def _score_cached(scorer: StepScorer, trajs: list[Trajectory]) -> list[tuple[np.ndarray, int, float]]:
    """Scores of ``trajs``; cached for checkpoints loaded from disk (keyed by path and
    ``model_fingerprint``), computed afresh for scorer objects handed in by a caller."""
    from agentprm_bench.prm.model import RewardModel

    source = None
    if isinstance(scorer, RewardModel) and scorer.path is not None:
        source = (str(scorer.path), model_fingerprint(scorer.path))

    def key(t: Trajectory) -> tuple:
        return (source, t.env_id, t.task_id, t.sample_index, json.dumps(t.policy, sort_keys=True), t.seed)

    cache = _SCORES if source is not None else {}  # a scorer object's scores are not kept past this call
    missing = [t for t in trajs if key(t) not in cache]
    if missing:
        t0 = time.perf_counter()
        each = scorer.score_each([(t.env_id, t.observations, t.actions) for t in missing])
        share = (time.perf_counter() - t0) / len(missing)
        for t, (values, tokens) in zip(missing, each):
            cache[key(t)] = (values, tokens, share)
    return [cache[key(t)] for t in trajs]


def _beam(cfg: RunConfig, entry: EnvEntry, policy: Policy, scorer: Any, task_ids: list[int],
          progress: bool, partial: Path | None) -> tuple[list[TaskResult], SearchCompute, int, int]:
    """Beam search over the tasks, batched across tasks: as many tasks at once as keep about
    ``BEAM_NODES`` candidate paths (each with its reward-model cache) alive per depth. With
    ``partial``, each finished group is saved there and groups saved by a killed attempt are
    taken from it instead of searched again (``search.partial``)."""
    from agentprm_bench.search.beam import beam_search_many

    width, expand = beam_shape(cfg.budget, cfg.expand)
    group = max(1, BEAM_NODES // (width * expand))
    done = finished_groups(partial) if partial is not None else {}
    compute, results = SearchCompute(), []
    bar = progress_bar(total=len(task_ids), desc=f"beam@{width}x{expand} {cfg.method}", disable=not progress)
    for start in range(0, len(task_ids), group):
        tids = task_ids[start:start + group]
        saved = done.get(start)
        if saved is not None and list(saved.task_ids) == tids:
            part, found = saved.compute, list(saved.results)
        else:
            (best, _), part = beam_search_many(entry.env_id, tids, policy, scorer, width, expand, cfg.seed,
                                               {"split": cfg.split})
            found = [TaskResult(tid, b.reward, float(b.won), -1, b.score) for tid, b in zip(tids, best)]
            if partial is not None:
                save_group(partial, Group(start, tuple(tids), tuple(found), part))
        compute.add(part)
        results += found
        bar.update(len(tids))
    bar.close()
    return results, compute, width, expand
