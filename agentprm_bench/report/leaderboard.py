"""Result records -> pandas tables: the leaderboard and the compute-efficiency table.

``load`` keeps the latest record of each run key (a rerun supersedes its earlier record).
``leaderboard`` pivots the metric (mean over tasks, with its 95% CI) to one row per env x
task count x search x method and one column per budget. Only runs on the same tasks are
compared with each other. ``efficiency`` answers the paper's question: for
each method and each baseline, the smallest budget at which the method first reaches the
baseline's best value (over all budgets), and the ratios of budgets and of compute
(policy tokens generated + reward-model tokens read) at those two points. Plain sampling
(``none``) is flat in the budget: its value is the estimate from the most samples, reached
at budget 1. ``all_token_ratio`` compares total compute: search tokens plus the one-off cost of
the reward model each run used (the policy tokens sampled for its labels, TD or Monte-Carlo, and
its training tokens), the paper's TD-vs-MC question. With per-task values (records loaded from files) the method's budget follows a
paired rule: the smallest budget where it reaches the baseline's best AND at no larger measured
budget is it significantly worse than that best (paired sign-flip p < 0.05 with a negative
difference, on the same tasks); the paired difference at that budget, its 95% CI and p are
reported beside the ratios (``paired_*``). No such budget: no ratio; where the method did reach the
best but fell significantly below it later, ``fell_*`` gives the first such budget and its test.
Several seeds: the curves are means over the seeds and the paired test pools them (the pooled rows
of ``paired``); where two budgets were measured on different seeds, the test pools the seeds both
have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from agentprm_bench.report.stats import Paired, paired, pooled_paired, seed_task_ci
from agentprm_bench.search.results import ResultRecord, latest_results

COMPUTE_COLUMNS = ("policy_tokens_out", "policy_tokens_in", "rm_tokens", "env_steps", "total_tokens", "all_tokens",
                   "wall_time_s")
AVERAGED_COLUMNS = COMPUTE_COLUMNS + ("label_tokens", "rm_train_tokens")  # over seeds, with the metric
PRIVILEGED = frozenset({"oracle-select"})  # methods that see the true outcome: upper bounds, not methods


def policies_by_seed(records: Iterable[ResultRecord]) -> dict[str, dict[int, set[str | None]]]:
    """env -> seed -> the policy weights digests its records name (``policy.weights_sha256``,
    recorded since 2026-12-03; None for a record without one)."""
    out: dict[str, dict[int, set[str | None]]] = {}
    for r in records:
        out.setdefault(r.env_id.split("/")[-1], {}).setdefault(r.seed, set()).add(r.policy.get("weights_sha256"))
    return out


def seeds_text(by_seed: dict[int, set[str | None]], quote: str = "") -> str:
    """One env's ``policies_by_seed`` as text: ``seed 0: 48094075; seed 1: not recorded``."""
    return "; ".join(f"seed {k}: {', '.join(sorted(f'{quote}{d[:8]}{quote}' if d else 'not recorded' for d in v))}"
                     for k, v in sorted(by_seed.items()))


def mixed_policies(records: Iterable[ResultRecord]) -> list[str]:
    """One line per env whose records name more than one policy digest: its seeds are not
    repetitions of one experiment, so the means and tests pooled over them mean nothing."""
    lines = []
    for env, by_seed in sorted(policies_by_seed(records).items()):
        if len({d for ds in by_seed.values() for d in ds if d}) > 1:
            lines.append(f"{env}: records of different policies ({seeds_text(by_seed)}); "
                         "pooled over seeds they mean nothing")
    return lines


def load(paths: Iterable[str | Path]) -> pd.DataFrame:
    """The latest record of every run under ``paths`` (``latest_results``) as one table row each."""
    return records_frame(latest_results(paths))


def records_frame(records: Iterable[ResultRecord]) -> pd.DataFrame:
    rows = []
    for r in records:
        c = r.compute
        rm = r.reward_model or {}
        label = rm.get("label_compute") if isinstance(rm.get("label_compute"), dict) else {}
        label_tokens = int(label.get("sampled_tokens") or 0)
        train_tokens = int(rm.get("train_tokens") or 0)
        rows.append({"env": r.env_id.split("/")[-1], "method": r.method, "search": r.search, "budget": r.budget,
                     "width": r.width, "expand": r.expand, "metric": r.metric, "value": r.value,
                     "ci_low": r.ci_low, "ci_high": r.ci_high, "success_rate": r.success_rate,
                     "mean_reward": r.mean_reward, "tasks": len(r.tasks), "policy_tokens_out": c["policy_tokens_out"],
                     "policy_tokens_in": c["policy_tokens_in"], "rm_tokens": c["rm_tokens"],
                     "env_steps": c["env_steps"], "total_tokens": c["policy_tokens_out"] + c["rm_tokens"],
                     "label_tokens": label_tokens, "rm_train_tokens": train_tokens,
                     "all_tokens": c["policy_tokens_out"] + c["rm_tokens"] + label_tokens + train_tokens,
                     "wall_time_s": c["wall_time_s"],
                     "reward_model": (r.reward_model or {}).get("path", ""), "seed": r.seed, "timestamp": r.timestamp,
                     "privileged": r.method in PRIVILEGED,
                     "task_ids": tuple(t.task_id for t in r.tasks),
                     "task_values": tuple(t.success if r.metric == "success" else t.reward for t in r.tasks)})
    return pd.DataFrame(rows).sort_values(["env", "search", "method", "budget"]).reset_index(drop=True)


def over_seeds(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run key without its seed (env, metric, tasks, search, method, budget), from the
    latest record of each seed (by ``timestamp``). Several seeds: the metric and the compute are the
    means over them and the interval is ``seed_task_ci``'s (a single seed keeps its own record's).
    ``seeds`` counts the seeds, ``seed_ids`` names them in ascending order and ``seed_values`` holds
    each one's per-task values in that order where every seed ran the same tasks (else None). The
    leaderboard, the plots and the efficiency table all read this one table, so they agree on which
    record of a seed counts."""
    df = df.assign(seed=df.seed if "seed" in df else 0, timestamp=df.timestamp if "timestamp" in df else "")
    keys = ["env", "metric", "tasks", "search", "method", "budget"]
    rows = []
    for _, g in df.groupby(keys, sort=False):
        last = g.sort_values("timestamp", kind="stable").groupby("seed").tail(1).sort_values("seed", kind="stable")
        row = last.iloc[-1].copy()  # a superseded record of a seed lends nothing
        row["seeds"], row["seed_ids"] = len(last), tuple(int(s) for s in last.seed)
        per_task = "task_values" in last and "task_ids" in last and last.task_ids.nunique() == 1
        row["seed_values"] = tuple(tuple(v) for v in last.task_values) if per_task else None
        if len(last) > 1:
            row["value"] = float(last.value.mean())
            for col in AVERAGED_COLUMNS:
                if col in last:
                    row[col] = float(last[col].mean())
            if "task_values" in last:
                row["ci_low"], row["ci_high"] = seed_task_ci(list(last.task_values))
        rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True)


def leaderboard(df: pd.DataFrame) -> pd.DataFrame:
    """One row per env x search x method, a column per budget: "value [ci_low, ci_high]", the mean
    over seeds where there are several (marked "(k seeds)", interval from ``seed_task_ci``)."""
    df = over_seeds(df)
    seeds = df.seeds.astype(int)
    cell = df.assign(cell=[f"{v:.3f} [{lo:.2f}, {hi:.2f}]" + (f" ({k} seeds)" if k > 1 else "")
                           for v, lo, hi, k in zip(df.value, df.ci_low, df.ci_high, seeds)],
                     method=[f"{m} (privileged)" if m in PRIVILEGED else m for m in df.method])
    table = cell.pivot_table(index=["env", "metric", "tasks", "search", "method"], columns="budget", values="cell",
                             aggfunc="last")
    table.columns = [f"@{b}" for b in table.columns]
    return table.reset_index().fillna("")


def _first_reaching(rows: pd.DataFrame, target: float) -> pd.Series | None:
    hit = rows[rows.value >= target - 1e-12].sort_values("budget")
    return None if hit.empty else hit.iloc[0]


ALPHA = 0.05  # a paired difference with sign-flip p below this is significant


def _test(row: pd.Series, base: pd.Series) -> Paired | None:
    """Paired test of a method's row against the baseline's on the same tasks, pooled over the seeds
    both have (a sweep over seeds cut mid-way leaves some budgets on fewer seeds); None where they
    share no tasks list or no seed."""
    common = [s for s in row.seed_ids if s in base.seed_ids]
    if row.task_ids != base.task_ids or not common:
        return None
    a = [row.seed_values[row.seed_ids.index(s)] for s in common]
    b = [base.seed_values[base.seed_ids.index(s)] for s in common]
    return paired(a[0], b[0]) if len(common) == 1 else pooled_paired(a, b)


def _paired_hit(rows: pd.DataFrame, base: pd.Series, target: float
                ) -> tuple[pd.Series | None, Paired | None, tuple[int, Paired] | None]:
    """The smallest budget at which the method reaches ``target`` AND at no larger measured budget is
    significantly worse than the baseline's best (paired on the same tasks); with its paired test.
    Third: where the method reached ``target`` but was not credited, the first larger budget at which
    it is significantly worse than the baseline's best, with that test."""
    rows = rows.sort_values("budget")
    tested = {i: t for i, row in rows.iterrows() if (t := _test(row, base)) is not None}
    fell = None
    for i, row in rows.iterrows():
        if row.value < target - 1e-12:
            continue
        later = rows[rows.budget >= row.budget]
        worse = [j for j in later.index if j in tested and tested[j].diff < 0 and tested[j].p_value < ALPHA]
        if all(j in tested for j in later.index) and not worse:
            return row, tested[i], None
        if worse and fell is None:
            fell = (int(rows.loc[worse[0]].budget), tested[worse[0]])
    return None, None, fell


def efficiency(df: pd.DataFrame, baselines: Sequence[str] = ("orm", "pvm", "none")) -> pd.DataFrame:
    """The compute-efficiency table (module docstring). Several seeds: every curve is the mean over
    the seeds, and the paired test at a budget pools the seeds (``stats.pooled_paired``)."""
    out = []
    df = over_seeds(df)
    for (env, search, tasks), group in df[df.search != "sample"].groupby(["env", "search", "tasks"]):
        sample = df[(df.env == env) & (df.search == "sample") & (df.method == "none") & (df.tasks == tasks)]
        for base in baselines:
            brows = sample if base == "none" else group[group.method == base]
            if brows.empty:
                continue
            if base == "none":  # flat in the budget: its estimate from the most samples, worth one sample
                at_best = brows.sort_values("budget").iloc[-1].copy()
                at_best["budget"] = 1
                best = float(at_best.value)
            else:
                best = float(brows.value.max())
                at_best = _first_reaching(brows, best)
            for method, mrows in group.groupby("method"):
                if method in (base, "oracle-select"):  # an upper bound, not a method to rank
                    continue
                test = fell = None
                if at_best.seed_values is not None:  # per-task values: the paired rule
                    hit, test, fell = _paired_hit(mrows[mrows.seed_values.notna()], at_best, best)
                else:
                    hit = _first_reaching(mrows, best)
                out.append({"env": env, "search": search, "tasks": int(tasks), "seeds": int(at_best.seeds),
                            "method": method, "baseline": base,
                            "baseline_best": round(best, 4), "baseline_budget": int(at_best.budget),
                            "method_budget": int(hit.budget) if hit is not None else np.nan,
                            "budget_ratio": (at_best.budget / hit.budget) if hit is not None else np.nan,
                            "token_ratio": (at_best.total_tokens / hit.total_tokens)
                            if hit is not None and hit.total_tokens else np.nan,
                            "all_token_ratio": (at_best.all_tokens / hit.all_tokens)
                            if hit is not None and "all_tokens" in hit and hit.all_tokens else np.nan,
                            "paired_diff": test.diff if test else np.nan,
                            "paired_ci_low": test.ci_low if test else np.nan,
                            "paired_ci_high": test.ci_high if test else np.nan,
                            "paired_p": test.p_value if test else np.nan,
                            "paired_seeds": test.seeds if test else np.nan,  # those both rows have (``_test``)
                            # reached the best but not credited: where it fell significantly below it
                            "fell_budget": fell[0] if fell else np.nan,
                            "fell_diff": fell[1].diff if fell else np.nan,
                            "fell_p": fell[1].p_value if fell else np.nan})
    return pd.DataFrame(out)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else format(v, floatfmt)
        return str(v)

    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"
