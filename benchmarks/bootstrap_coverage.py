"""Coverage of 95% bootstrap intervals for a mean over seeds x tasks, the design of the reproduction
(every seed runs the same tasks), under a crossed random-effects model:

    y[s, t] = task[t] + seed[s] + noise[s, t],  task ~ N(0, a^2), seed ~ N(0, b^2), noise ~ N(0, e^2)

The true mean is 0. Each simulated data set gets three intervals: ``crossed`` (the library's
``report.stats.seed_task_ci``: seeds and tasks resampled independently, one task draw shared by
the drawn seeds), ``nested`` (seeds resampled, then tasks anew within each drawn seed: the design
before 2026-12-04) and ``tasks only`` (seeds held fixed). Prints a table of coverage (share of
intervals holding 0) and mean width per setting.

    python benchmarks/bootstrap_coverage.py [--seeds 3] [--tasks 90] [--datasets 400] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from agentprm_bench.report.stats import RESAMPLES, seed_task_ci

SETTINGS = [(1.0, 0.0, 0.3), (1.0, 0.2, 0.3), (0.3, 0.3, 1.0), (0.0, 0.3, 1.0), (0.0, 0.0, 1.0)]


def nested(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    s = rng.integers(0, x.shape[0], size=(RESAMPLES, x.shape[0]))
    t = rng.integers(0, x.shape[1], size=(RESAMPLES, x.shape[0], x.shape[1]))
    lo, hi = np.quantile(np.take_along_axis(x[s], t, axis=2).mean(axis=(1, 2)), [0.025, 0.975])
    return float(lo), float(hi)


def tasks_only(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    t = rng.integers(0, x.shape[1], size=(RESAMPLES, x.shape[1]))
    lo, hi = np.quantile(x[:, t].mean(axis=(0, 2)), [0.025, 0.975])
    return float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=90)
    ap.add_argument("--datasets", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.seeds} seeds x {args.tasks} tasks, {args.datasets} data sets per row, {RESAMPLES} resamples\n")
    print("| task sd | seed sd | noise sd | crossed cover | width | nested cover | width | tasks only cover | width |")
    print("|---|---|---|---|---|---|---|---|---|")
    for a, b, e in SETTINGS:
        cover, width = np.zeros(3), np.zeros(3)
        for i in range(args.datasets):
            y = (rng.normal(0, a, args.tasks)[None, :] + rng.normal(0, b, args.seeds)[:, None]
                 + rng.normal(0, e, (args.seeds, args.tasks)))
            for k, (lo, hi) in enumerate((seed_task_ci(list(y), seed=i), nested(y, rng), tasks_only(y, rng))):
                cover[k] += lo <= 0 <= hi
                width[k] += hi - lo
        c, w = cover / args.datasets, width / args.datasets
        print(f"| {a} | {b} | {e} | {c[0]:.2f} | {w[0]:.3f} | {c[1]:.2f} | {w[1]:.3f} | {c[2]:.2f} | {w[2]:.3f} |")


if __name__ == "__main__":
    main()
