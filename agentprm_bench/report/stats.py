"""Paired comparisons: two methods measured on the same tasks (and the same samples).

``paired(a, b)`` takes per-task values of two methods in the same task order and returns the
mean difference a - b with a percentile-bootstrap 95% interval over tasks (tasks resampled
together, so the pairing is kept) and a two-sided sign-flip permutation p-value (exact over
all 2^n sign patterns up to n = 16, else from 20,000 seeded random flips counting the observed
signs as one of them, (1 + hits) / (1 + 20,000): a Monte-Carlo p is never 0, and is at least
1/20,001). Seeded: same input, same numbers.

``seed_task_ci`` is the interval of a mean over seeds and tasks (several seeds measured on the
same tasks): seeds and tasks are crossed (every seed runs every task), so both are
resampled at once and independently, one draw of tasks shared by all drawn seeds (Owen's
"pigeonhole" bootstrap, Ann. Appl. Stat. 2007): the between-seed spread and the between-task
spread are both in it. Resampling the tasks anew within each drawn seed (a nested bootstrap)
would shrink the task spread by the number of seeds. ``benchmarks/bootstrap_coverage.py`` (3 seeds
x 90 tasks, crossed random effects): where tasks differ more than the noise, 95% intervals cover
the mean 92-95% of the time (nested: 77-79%); where seeds differ, 86-87% (nested 82-83%; three
seeds show their spread poorly); with noise alone this interval is conservative (coverage 1.00, 1.5x
the tasks-only width; it counts the noise in both the seed and the task draws).
``pooled_paired`` compares two methods over several seeds on the same tasks: the difference
averaged over seeds and tasks, ``seed_task_ci`` of the per-seed differences, and the sign-flip p
of the per-task differences averaged over the seeds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

EXACT_UP_TO = 16
FLIPS = 20_000
RESAMPLES = 2_000
MIN_TASKS_TO_RANK = 30  # below this, say that the comparison cannot rank methods


@dataclass(frozen=True)
class Paired:
    n: int
    mean_a: float
    mean_b: float
    diff: float  # mean of a - b
    ci_low: float
    ci_high: float
    p_value: float
    seeds: int = 1  # the seeds pooled (``pooled_paired``); one for ``paired``


def sign_flip_p(d: np.ndarray, seed: int = 0) -> float:
    """Two-sided p-value of mean(d) under random sign flips of the paired differences d (n,):
    the share of the 2^n sign patterns reaching |mean(d)| (n <= 16), else (1 + hits) / (1 + FLIPS)
    over FLIPS seeded random patterns (the observed one counted too, so the p is a valid one)."""
    n = len(d)
    observed = abs(d.mean())
    if n == 0 or not np.any(d):
        return 1.0
    if n <= EXACT_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        return float(np.mean(np.abs(signs @ d / n) >= observed - 1e-12))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(FLIPS, n))
    hits = int(np.sum(np.abs(signs @ d / n) >= observed - 1e-12))
    return (1 + hits) / (1 + FLIPS)


def paired(a: Sequence[float], b: Sequence[float], seed: int = 0) -> Paired:
    """Paired comparison of per-task values ``a`` and ``b`` (same tasks, same order), both (n,)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired values need the same tasks: {x.shape} vs {y.shape}")
    d = x - y
    n = len(d)
    if n == 0:
        nan = float("nan")
        return Paired(0, nan, nan, nan, nan, nan, nan)
    idx = np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))
    lo, hi = np.quantile(d[idx].mean(axis=1), [0.025, 0.975])
    return Paired(n, float(x.mean()), float(y.mean()), float(d.mean()), float(lo), float(hi), sign_flip_p(d, seed))


def seed_task_ci(per_seed: Sequence[Sequence[float]], seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean over seeds and tasks of ``per_seed`` (S seeds, T tasks; the same
    tasks in every seed): each resample draws S seeds and T tasks with replacement, independently,
    and averages the drawn seeds' values on the drawn tasks (the (S, T) submatrix)."""
    x = np.asarray(per_seed, dtype=float)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"seed_task_ci needs (seeds, tasks) values with the same tasks per seed, got shape {x.shape}")
    rng = np.random.default_rng(seed)
    s = rng.integers(0, x.shape[0], size=(RESAMPLES, x.shape[0]))
    t = rng.integers(0, x.shape[1], size=(RESAMPLES, x.shape[1]))
    means = x[s[:, :, None], t[:, None, :]].mean(axis=(1, 2))
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def pooled_paired(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], seed: int = 0) -> Paired:
    """Paired comparison pooled over seeds: ``a`` and ``b`` are (seeds, tasks), the same seeds and
    tasks in the same order; ``n`` counts the tasks."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"pooled paired values need (seeds, tasks) of one shape: {x.shape} vs {y.shape}")
    d = x - y
    lo, hi = seed_task_ci(list(d), seed)
    return Paired(x.shape[1], float(x.mean()), float(y.mean()), float(d.mean()), lo, hi,
                  sign_flip_p(d.mean(axis=0), seed), seeds=x.shape[0])
