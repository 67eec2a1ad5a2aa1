"""Reward models judged on a probe set (``prm.probe``): step ranking against Monte-Carlo Q.

Metrics, each with a 95% percentile-bootstrap interval over tasks (a task's states and
trajectories are resampled together, ``RESAMPLES`` times, seeded):
- ``ranking``: pairwise accuracy over candidate pairs at the same state whose Q differ
  significantly (|Q_a - Q_b| > 1.96 x the standard error of the difference; exact outcomes
  have standard error 0): 1 when the score orders them as Q does, 0.5 on a score tie.
- ``spearman``: rank correlation between candidate scores and Q over all candidates.
- ``ece``: expected calibration error of the scores (clipped to [0, 1]) against Q, 10 equal bins.
- ``monotonicity``: mean over successful trajectories (>= 3 steps) of the rank correlation of
  the step score with the step index (1: the score rises as the agent progresses).
- ``first_error_f1``: ProcessBench's F1: harmonic mean of the accuracy on trajectories with a
  first error (the predicted first error, the first step scored below 0.5, equals the true one)
  and on error-free ones (no step scored below 0.5).
Paired differences between two models use the same resampled tasks; for ``ranking`` also the
sign-flip p-value over per-task accuracies (``report.stats.paired``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

RESAMPLES = 1000
METRICS = ("ranking", "spearman", "ece", "monotonicity", "first_error_f1")
THRESHOLD = 0.5  # a step scored below this is predicted to be an error


@dataclass(frozen=True)
class Scored:
    """A scorer's outputs on a probe set: candidate scores per state, step scores per trajectory."""

    states: list[dict[str, Any]]
    candidate_scores: list[list[float]]
    trajectories: list[dict[str, Any]]
    step_scores: list[np.ndarray]
    tokens: int


def split_records(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A probe set's records -> (states, trajectories), in file order: the order ``Scored`` keeps."""
    return [r for r in records if r["kind"] == "state"], [r for r in records if r["kind"] == "trajectory"]


def score_probes(scorer: Any, records: Sequence[dict[str, Any]]) -> Scored:
    """Score every state's candidates (``score_expansions``) and every trajectory's steps (``score_each``)."""
    states, trajs = split_records(records)
    tokens = 0
    by_env: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(states):
        by_env[s["env_id"]].append(i)
    out: dict[int, list[float]] = {}
    for env_id, idx in by_env.items():
        got, n = scorer.score_expansions(env_id, [(states[i]["observations"], states[i]["actions"]) for i in idx],
                                         [states[i]["candidates"] for i in idx])
        out.update(zip(idx, got))
        tokens += n
    scores = [list(map(float, out[i])) for i in range(len(states))]
    each = scorer.score_each([(t["env_id"], t["observations"], t["actions"]) for t in trajs]) if trajs else []
    tokens += sum(n for _, n in each)
    return Scored(states, scores, trajs, [np.asarray(v, dtype=float) for v, _ in each], tokens)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for v in np.unique(x):
        where = x == v
        ranks[where] = ranks[where].mean()
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (ties averaged); 0 where one side is constant, NaN where a value is."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    a, b = _ranks(x), _ranks(y)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def significant_pairs(state: dict[str, Any]) -> list[tuple[int, int]]:
    """Candidate pairs (a, b) with Q_a > Q_b by more than 1.96 standard errors of the difference."""
    q, se = state["q"], state["se"]
    return [(a, b) for a in range(len(q)) for b in range(len(q))
            if q[a] > q[b] + 1.96 * float(np.hypot(se[a], se[b]))]


def _pair_correct(scores: Sequence[float], a: int, b: int) -> float:
    return 1.0 if scores[a] > scores[b] else 0.5 if scores[a] == scores[b] else 0.0


def _ece(scores: np.ndarray, q: np.ndarray, bins: int = 10) -> float:
    s = np.clip(scores, 0.0, 1.0)
    which = np.minimum((s * bins).astype(int), bins - 1)
    return float(sum(abs(s[which == k].mean() - q[which == k].mean()) * (which == k).sum()
                     for k in range(bins) if (which == k).any()) / max(1, len(s)))


def _predicted_error(step_scores: np.ndarray) -> int:
    below = np.nonzero(step_scores < THRESHOLD)[0]
    return int(below[0]) if len(below) else -1


def metric_values(s: Scored, tasks: Sequence[int] | None = None) -> dict[str, float]:
    """Every metric on the states and trajectories of ``tasks`` (a list that may repeat; None: all)."""
    count = defaultdict(int)
    for t in (tasks if tasks is not None else {r["task_id"] for r in s.states + s.trajectories}):
        count[t] += 1
    pairs, items_s, items_q = [], [], []
    for state, sc in zip(s.states, s.candidate_scores):
        w = count.get(state["task_id"], 0)
        if not w:
            continue
        pairs += [_pair_correct(sc, a, b) for a, b in significant_pairs(state)] * w
        items_s += list(sc) * w
        items_q += list(state["q"]) * w
    mono, err_hits, ok_hits = [], [], []
    for traj, sc in zip(s.trajectories, s.step_scores):
        w = count.get(traj["task_id"], 0)
        if not w:
            continue
        if traj["won"] and len(sc) >= 3:
            mono += [spearman(np.arange(len(sc)), sc)] * w
        if traj["first_error"] >= 0:
            err_hits += [float(_predicted_error(sc) == traj["first_error"])] * w
        else:
            ok_hits += [float(_predicted_error(sc) == -1)] * w
    acc_err = float(np.mean(err_hits)) if err_hits else float("nan")
    acc_ok = float(np.mean(ok_hits)) if ok_hits else float("nan")
    f1 = 2 * acc_err * acc_ok / (acc_err + acc_ok) if acc_err + acc_ok > 0 else 0.0
    nan = float("nan")
    return {"ranking": float(np.mean(pairs)) if pairs else nan,
            "spearman": spearman(items_s, items_q) if items_s else nan,
            "ece": _ece(np.array(items_s), np.array(items_q)) if items_s else nan,
            "monotonicity": float(np.mean(mono)) if mono else nan,
            "first_error_f1": f1 if err_hits and ok_hits else nan}


def task_ids(s: Scored) -> list[int]:
    return sorted({r["task_id"] for r in s.states + s.trajectories})


def bootstrap(fn: Callable[[list[int] | None], dict[str, float]], tasks: list[int],
              seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """metric -> (value on all tasks, 95% CI low, high), resampling tasks with ``fn(task list)``."""
    point = fn(None)
    rng = np.random.default_rng(seed)
    draws = [fn([tasks[i] for i in rng.integers(0, len(tasks), len(tasks))]) for _ in range(RESAMPLES)]
    out = {}
    for m in point:
        vals = np.array([d[m] for d in draws], dtype=float)
        vals = vals[~np.isnan(vals)]
        lo, hi = np.quantile(vals, [0.025, 0.975]) if len(vals) else (float("nan"), float("nan"))
        out[m] = (point[m], float(lo), float(hi))
    return out


def evaluate(s: Scored, seed: int = 0) -> dict[str, tuple[float, float, float]]:
    return bootstrap(lambda tasks: metric_values(s, tasks), task_ids(s), seed)


def per_task_ranking(s: Scored) -> dict[int, float]:
    """Ranking accuracy per task (tasks with at least one significant pair)."""
    hits: dict[int, list[float]] = defaultdict(list)
    for state, sc in zip(s.states, s.candidate_scores):
        hits[state["task_id"]] += [_pair_correct(sc, a, b) for a, b in significant_pairs(state)]
    return {t: float(np.mean(v)) for t, v in hits.items() if v}


def compare(a: Scored, b: Scored, seed: int = 0) -> dict[str, Any]:
    """Paired difference a - b of every metric (bootstrap CI over the same resampled tasks) and the
    sign-flip p-value of the per-task ranking accuracies."""
    from agentprm_bench.report.stats import paired

    def difference(tasks: list[int] | None) -> dict[str, float]:
        x, y = metric_values(a, tasks), metric_values(b, tasks)
        return {m: x[m] - y[m] for m in METRICS}

    diff = bootstrap(difference, task_ids(a), seed)
    ra, rb = per_task_ranking(a), per_task_ranking(b)
    common = sorted(set(ra) & set(rb))
    p = paired([ra[t] for t in common], [rb[t] for t in common], seed=seed)
    return {"diff": diff, "ranking_p": p.p_value, "ranking_tasks": p.n}


def rank_agreement(per_env: dict[str, tuple[dict[str, Scored], dict[str, Sequence[float]]]], draws: int = 2000,
                   seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """Does a reward model's probe ranking accuracy predict its Best-of-N success?

    ``per_env``: env -> (scored probe set per model, per-task BoN success per model; the same models
    and BoN tasks in each). Per env, Spearman over the models between ranking accuracy and mean BoN
    success; ``"mean"``, the mean of the per-env correlations (models are compared within an env,
    whose success levels differ). Each value comes with a 95% interval from resampling every env's
    probe tasks and BoN tasks (one draw shared by all models, so the pairing holds): -> name ->
    (value, low, high)."""
    rng = np.random.default_rng(seed)
    envs = list(per_env)
    names = {e: sorted(per_env[e][0]) for e in envs}

    def rho(env: str, probe_tasks: list[int] | None, bon_tasks: np.ndarray | None) -> float:
        scored, bon = per_env[env]
        acc = [metric_values(scored[n], probe_tasks)["ranking"] for n in names[env]]
        succ = [float(np.mean(np.asarray(bon[n], float) if bon_tasks is None else np.asarray(bon[n], float)[bon_tasks]))
                for n in names[env]]
        return spearman(acc, succ)

    point = {e: rho(e, None, None) for e in envs}
    tasks = {e: task_ids(per_env[e][0][names[e][0]]) for e in envs}
    n_bon = {e: len(next(iter(per_env[e][1].values()))) for e in envs}
    samples: dict[str, list[float]] = {e: [] for e in envs + ["mean"]}
    for _ in range(draws):
        drawn = {}
        for e in envs:
            drawn[e] = rho(e, [tasks[e][i] for i in rng.integers(0, len(tasks[e]), len(tasks[e]))],
                           rng.integers(0, n_bon[e], n_bon[e]))
            samples[e].append(drawn[e])
        samples["mean"].append(_nanmean(list(drawn.values())))
    point["mean"] = _nanmean([point[e] for e in envs])
    out = {}
    for k, v in point.items():
        lo, hi = np.nanquantile(samples[k], [0.025, 0.975]) if np.isfinite(samples[k]).any() else (np.nan, np.nan)
        out[k] = (float(v), float(lo), float(hi))
    return out


def _nanmean(values: Sequence[float]) -> float:
    """The mean of the values that are numbers; NaN if none is."""
    kept = [v for v in values if not np.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")
