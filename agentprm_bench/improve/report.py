"""Tables and figures of ``improve`` runs: test success per iteration with CIs, paired final policies.

"success" below is each record's env metric (``test.metric``: success; BabyAI: mean reward); the
column ``won`` holds its per-task values.

Runs are ``improve`` output dirs (``improve.jsonl``), one per (env, reward, seed). Per (env,
reward, iteration) the table gives the mean test success over seeds and tasks and a 95% CI from
``report.stats.seed_task_ci`` (seeds and tasks resampled independently, one task draw shared by
the drawn seeds: the between-seed and between-task spreads are in it), with each seed's
success. The paired comparison of two rewards' final policies uses the
seeds both have: per-task success averaged over those seeds, paired on the (shared) test tasks
(``report.stats.paired``: bootstrap CI, sign-flip p), with Holm's adjustment per env.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from agentprm_bench.errors import UserError
from agentprm_bench.report.paired import holm
from agentprm_bench.report.stats import paired, seed_task_ci

RECORDS = "improve.jsonl"


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """``improve.jsonl`` files given directly, in a given dir, or one level below it."""
    found = []
    for p in map(Path, paths):
        if p.name == RECORDS and p.is_file():
            found.append(p)
        elif p.is_dir():
            found += [p / RECORDS] if (p / RECORDS).is_file() else sorted(p.glob(f"*/{RECORDS}"))
    return found


def load(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (run, iteration): env, reward, seed, iteration, success, won (per task), compute."""
    rows = []
    for path in find_runs(paths):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            try:
                r = json.loads(line)
                c = r["compute"]
                test = r["test"]
                values = list(test.get("values", test["won"]))  # records before the metric field: success
                rows.append({"run": str(path.parent), "env": r["config"]["env"], "reward": r["config"]["reward"],
                             "seed": int(r["config"]["seed"]), "iteration": int(r["iteration"]),
                             "metric": test.get("metric", "success"),
                             "success": sum(values) / max(1, len(values)), "won": values,
                             "task_ids": list(r["test"]["task_ids"]),
                             "tokens": sum(int(c.get(k, 0)) for k in ("policy_tokens_in", "policy_tokens_out",
                                                                        "rm_tokens", "rm_train_tokens",
                                                                        "policy_train_tokens",
                                                                        "label_policy_tokens")),
                             "env_steps": int(c.get("env_steps", 0)) + int(c.get("label_env_steps", 0))})
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise UserError(f"{path}:{n} is not an improve record ({exc}); delete the line or re-run") from None
    df = pd.DataFrame(rows)
    if df.empty:
        raise UserError("no improve.jsonl found in the given paths; run `agentprm-bench improve` first")
    df = df.sort_values(["env", "reward", "seed", "iteration"])
    df["total_tokens"] = df.groupby("run")["tokens"].cumsum()  # compute spent up to this iteration
    return df.reset_index(drop=True)


def success_table(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (env, reward, it), g in df.groupby(["env", "reward", "iteration"]):
        lo, hi = seed_task_ci(list(g["won"]))
        out.append({"env": env, "reward": reward, "iteration": it, "metric": g["metric"].iloc[0], "seeds": len(g),
                    "tasks": len(g["won"].iloc[0]), "success": float(np.mean(list(g["won"]))),
                    "ci_low": lo, "ci_high": hi,
                    "per_seed": " ".join(f"{v:.3f}" for v in g["success"]),
                    "total_tokens": float(g["total_tokens"].mean())})
    return pd.DataFrame(out)


def final_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Paired differences of the final policies of every two rewards of an env (shared seeds)."""
    rows = []
    for env, g in df.groupby("env"):
        last = g[g["iteration"] == g.groupby("run")["iteration"].transform("max")]
        by = {r: {int(s): row for s, row in h.set_index("seed").iterrows()} for r, h in last.groupby("reward")}
        block = []
        for a, b in itertools.combinations(sorted(by), 2):
            seeds = sorted(set(by[a]) & set(by[b]))
            seeds = [s for s in seeds if by[a][s]["task_ids"] == by[b][s]["task_ids"]]
            if not seeds:
                continue
            va = np.mean([by[a][s]["won"] for s in seeds], axis=0)
            vb = np.mean([by[b][s]["won"] for s in seeds], axis=0)
            p = paired(va, vb)
            block.append({"env": env, "reward_a": a, "reward_b": b, "seeds": len(seeds), "tasks": p.n,
                          "iteration_a": int(by[a][seeds[0]]["iteration"]),
                          "iteration_b": int(by[b][seeds[0]]["iteration"]),
                          "success_a": p.mean_a, "success_b": p.mean_b, "diff": p.diff, "ci_low": p.ci_low,
                          "ci_high": p.ci_high, "p": p.p_value})
        for r, ph in zip(block, holm([r["p"] for r in block])):
            r["p_holm"] = ph
        rows += block
    return pd.DataFrame(rows)


def figures(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Per env: success vs iteration and success vs total tokens, one line per reward (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    table = success_table(df)
    for env, g in table.groupby("env"):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for reward, h in g.groupby("reward"):
            h = h.sort_values("iteration")
            for ax, x in zip(axes, (h["iteration"], h["total_tokens"] / 1e6)):
                ax.plot(x, h["success"], marker="o", label=reward)
                ax.fill_between(x, h["ci_low"], h["ci_high"], alpha=0.15)
        axes[0].set_xlabel("iteration")
        axes[0].set_xticks(sorted(g["iteration"].unique()))
        axes[1].set_xlabel("total tokens (millions): rollouts, labels, RM, update")
        for ax in axes:
            ax.set_ylabel("test " + ("success" if g["metric"].iloc[0] == "success" else "mean reward"))
            ax.legend(fontsize=8)
        fig.suptitle(f"{env}: policy improvement (mean over seeds, 95% CI)")
        fig.tight_layout()
        path = out / f"improve_{env.split('/')[-1]}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths
