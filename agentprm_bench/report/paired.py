"""The paired table: every pair of methods measured on the same tasks and samples.

Records are grouped by env, split, budget, policy (``policy_key``: its weights digest and sampling
settings where the digest is recorded), seed and the exact list of task ids; Best-of-N
and plain sampling (``none``, search "sample") at the same budget share their sample pool, so they
are paired too (beam search pairs only with beam search). For each pair, per-task values of the
env's metric give the mean difference a - b, its paired bootstrap 95% CI and the sign-flip
p-value (``stats.paired``); ``p_holm`` is Holm's step-down adjustment over all pairs of the
same env, search family, budget and seed (the family a reader scans at once). ``privileged`` marks
pairs involving a method that sees the true outcome (``oracle-select``): upper bounds, not
methods to rank.

Where a pair was measured with several seeds on the same tasks (``sweep --seeds``: each seed its
own sample pool and reward-model training seed), a pooled row (seed ``all``, ``seeds`` = k) gives
the difference averaged over the seeds and tasks; its 95% CI from ``stats.seed_task_ci`` (seeds and
tasks resampled independently, one task draw shared by the drawn seeds: both spreads are in it) and its
p-value from sign flips of the per-task differences averaged over the seeds. Pooled rows get
their own Holm family per env, search family and budget.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd

from agentprm_bench.report.leaderboard import PRIVILEGED
from agentprm_bench.report.stats import paired, pooled_paired
from agentprm_bench.search.results import ResultRecord


COLUMNS = ["env", "split", "search", "budget", "seed", "seeds", "metric", "tasks", "method_a", "method_b", "value_a",
           "value_b", "diff", "ci_low", "ci_high", "p", "p_holm", "privileged"]


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def policy_key(policy: dict) -> str:
    """A policy's identity for pairing: where its weights digest is recorded, the digest and the
    sampling settings (the directory it was loaded from does not matter); else all it describes."""
    if policy.get("weights_sha256"):
        policy = {k: v for k, v in policy.items() if k != "model"}
    return json.dumps(policy, sort_keys=True)


def paired_table(records: list[ResultRecord]) -> pd.DataFrame:
    """One row per pair of methods on the same env, split, search family, budget, policy, seed and
    tasks; then the pooled rows over seeds (module docstring)."""
    groups: dict[tuple, list[ResultRecord]] = {}
    for r in records:
        family = "beam" if r.search == "beam" else "bon"
        shape = r.expand if family == "beam" else 1  # beam @4x4 and @8x2 (both 16) are different searches
        key = (r.env_id.split("/")[-1], r.split, family, r.budget, shape, policy_key(r.policy),
               r.seed, r.metric, tuple(t.task_id for t in r.tasks))
        groups.setdefault(key, []).append(r)
    rows = []
    per_seed: dict[tuple, dict[int, tuple[np.ndarray, np.ndarray]]] = {}  # pooled key -> seed -> (a, b) values
    for (env, split, family, budget, shape, policy, seed, metric, task_ids), rs in groups.items():
        field = "success" if metric == "success" else "reward"
        by_method = {r.method: r for r in rs}
        for a, b in itertools.combinations(sorted(by_method), 2):
            va = np.array([getattr(t, field) for t in by_method[a].tasks], dtype=float)
            vb = np.array([getattr(t, field) for t in by_method[b].tasks], dtype=float)
            p = paired(va, vb, seed=seed)
            rows.append({"env": env, "split": split, "search": family, "budget": budget, "seed": str(seed),
                         "seeds": 1, "metric": metric, "tasks": len(task_ids), "method_a": a, "method_b": b,
                         "value_a": p.mean_a, "value_b": p.mean_b, "diff": p.diff, "ci_low": p.ci_low,
                         "ci_high": p.ci_high, "p": p.p_value, "privileged": bool({a, b} & PRIVILEGED)})
            pooled = (env, split, family, budget, shape, policy, metric, task_ids, a, b)
            per_seed.setdefault(pooled, {})[seed] = (va, vb)
    for (env, split, family, budget, _, _, metric, task_ids, a, b), by_seed in per_seed.items():
        if len(by_seed) < 2:
            continue
        seeds = sorted(by_seed)
        p = pooled_paired([by_seed[s][0] for s in seeds], [by_seed[s][1] for s in seeds])
        rows.append({"env": env, "split": split, "search": family, "budget": budget, "seed": "all",
                     "seeds": len(seeds), "metric": metric, "tasks": len(task_ids), "method_a": a, "method_b": b,
                     "value_a": p.mean_a, "value_b": p.mean_b, "diff": p.diff, "ci_low": p.ci_low,
                     "ci_high": p.ci_high, "p": p.p_value, "privileged": bool({a, b} & PRIVILEGED)})
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame(rows)
    df["p_holm"] = np.nan
    for _, idx in df.groupby(["env", "split", "search", "budget", "seed", "tasks"]).groups.items():
        df.loc[idx, "p_holm"] = holm(df.loc[idx, "p"].tolist())
    df["_order"] = [(s == "all", int(s) if s != "all" else 0) for s in df.seed]
    df = df.sort_values(["env", "search", "budget", "_order", "method_a", "method_b"])
    return df[COLUMNS].reset_index(drop=True)
