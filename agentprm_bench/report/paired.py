"""The paired table: every pair of methods measured on the same tasks and samples.

Records are grouped by env, split, budget, policy, seed and the exact list of task ids; Best-of-N
and plain sampling (``none``, search "sample") at the same budget share their sample pool, so they
are paired too (beam search pairs only with beam search). For each pair, per-task values of the
env's metric give the mean difference a - b, its paired bootstrap 95% CI and the sign-flip
p-value (``stats.paired``); ``p_holm`` is Holm's step-down adjustment over all pairs of the
same env, search family and budget (the family a reader scans at once). ``privileged`` marks
pairs involving a method that sees the true outcome (``oracle-select``): upper bounds, not
methods to rank.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from agentprm_bench.errors import UserError
from agentprm_bench.report.leaderboard import PRIVILEGED
from agentprm_bench.report.stats import paired
from agentprm_bench.search.results import RESULTS, ResultRecord, read_results



def latest_records(paths: Iterable[str | Path]) -> list[ResultRecord]:
    latest: dict[tuple, ResultRecord] = {}
    for p in paths:
        path = Path(p) / RESULTS if Path(p).is_dir() else Path(p)
        for r in read_results(path):
            latest[r.key] = r
    if not latest:
        raise UserError("no result records found; run `agentprm-bench run` or `agentprm-bench sweep` first")
    return list(latest.values())


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def paired_table(records: list[ResultRecord]) -> pd.DataFrame:
    groups: dict[tuple, list[ResultRecord]] = {}
    for r in records:
        family = "beam" if r.search == "beam" else "bon"
        key = (r.env_id.split("/")[-1], r.split, family, r.budget, json.dumps(r.policy, sort_keys=True), r.seed,
               r.metric, tuple(t.task_id for t in r.tasks))
        groups.setdefault(key, []).append(r)
    rows = []
    for (env, split, family, budget, _, seed, metric, task_ids), rs in groups.items():
        field = "success" if metric == "success" else "reward"
        by_method = {r.method: r for r in rs}
        for a, b in itertools.combinations(sorted(by_method), 2):
            ra, rb = by_method[a], by_method[b]
            p = paired([getattr(t, field) for t in ra.tasks], [getattr(t, field) for t in rb.tasks], seed=seed)
            rows.append({"env": env, "split": split, "search": family, "budget": budget, "seed": seed,
                         "metric": metric, "tasks": len(task_ids), "method_a": a, "method_b": b,
                         "value_a": p.mean_a, "value_b": p.mean_b, "diff": p.diff, "ci_low": p.ci_low,
                         "ci_high": p.ci_high, "p": p.p_value, "privileged": bool({a, b} & PRIVILEGED)})
    if not rows:
        return pd.DataFrame(columns=["env", "split", "search", "budget", "seed", "metric", "tasks", "method_a",
                                     "method_b", "value_a", "value_b", "diff", "ci_low", "ci_high", "p", "p_holm",
                                     "privileged"])
    df = pd.DataFrame(rows)
    df["p_holm"] = np.nan
    for _, idx in df.groupby(["env", "split", "search", "budget", "seed", "tasks"]).groups.items():
        df.loc[idx, "p_holm"] = holm(df.loc[idx, "p"].tolist())
    cols = ["env", "split", "search", "budget", "seed", "metric", "tasks", "method_a", "method_b", "value_a",
            "value_b", "diff", "ci_low", "ci_high", "p", "p_holm", "privileged"]
    return df[cols].sort_values(["env", "search", "budget", "seed", "method_a", "method_b"]).reset_index(drop=True)
