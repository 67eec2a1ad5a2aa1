"""Paired comparison: hand-computed cases for the sign-flip p-value and the bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from agentprm_bench.report.stats import paired, sign_flip_p


def test_sign_flip_p_exact_small_cases():
    # d = (1, 1, 1): of the 8 sign patterns only +++ and --- reach |mean| 1 -> p = 2/8
    assert sign_flip_p(np.array([1.0, 1.0, 1.0])) == pytest.approx(0.25)
    # d = (1, 0): patterns (+,.) and (-,.) x 2: |mean| 0.5 always -> p = 1
    assert sign_flip_p(np.array([1.0, 0.0])) == 1.0
    assert sign_flip_p(np.zeros(5)) == 1.0
    # d = (2, 1): |mean| of ++ and -- is 1.5, of +- and -+ 0.5 -> p = 2/4
    assert sign_flip_p(np.array([2.0, 1.0])) == pytest.approx(0.5)


def test_sign_flip_p_monte_carlo_counts_the_observed_signs():
    from agentprm_bench.report.stats import FLIPS

    # d = 40 ones: of 20,000 random patterns none is all + or all - (chance 2^-39 each), so no
    # draw reaches |mean| 1; the observed pattern counts as one: p = 1 / (FLIPS + 1), never 0
    assert sign_flip_p(np.ones(40)) == 1 / (FLIPS + 1)
    # d = (1, 0 x 39): every pattern has |mean| 1/40 -> all 20,000 draws hit -> p = 1
    assert sign_flip_p(np.array([1.0] + [0.0] * 39)) == 1.0
    # d = (1, 1, -1 x 38): |mean| 36/40 is reached only by patterns with at most one sign off -> tiny p
    assert 1 / (FLIPS + 1) <= sign_flip_p(np.array([1.0, 1.0] + [-1.0] * 38)) < 1e-3


def test_paired_keeps_the_pairing():
    a = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    b = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    r = paired(a, b)
    assert (r.n, r.diff, r.ci_low, r.ci_high) == (10, 1.0, 1.0, 1.0)
    assert r.p_value == pytest.approx(2 / 1024)
    # identical per-task differences of +0.1 on tasks that vary a lot: the pairing removes the task noise
    base = np.linspace(0, 0.8, 40)
    r = paired(base + 0.1, base)
    assert r.ci_low == pytest.approx(0.1) and r.ci_high == pytest.approx(0.1) and r.p_value < 1e-3
    with pytest.raises(ValueError, match="same tasks"):
        paired([1, 2], [1])


def test_paired_is_seeded():
    rng = np.random.default_rng(3)
    a, b = rng.random(50), rng.random(50)
    assert paired(a, b, seed=1) == paired(a, b, seed=1)


def test_pooled_paired_averages_seeds_and_flips_the_seed_mean_differences():
    from agentprm_bench.report.stats import pooled_paired, seed_task_ci

    a, b = [(1, 1, 0, 0), (1, 0, 0, 0)], [(0, 0, 0, 0), (0, 0, 0, 1)]
    p = pooled_paired(a, b)
    # seed-averaged per-task d = (1, .5, 0, -.5): mean .25, exact sign-flip p 6/8 (tests/report/test_paired.py)
    assert (p.n, p.mean_a, p.mean_b, p.diff, p.p_value) == (4, 0.375, 0.125, 0.25, 0.75)
    assert (p.ci_low, p.ci_high) == seed_task_ci([(1, 1, 0, 0), (1, 0, 0, -1)])
    with pytest.raises(ValueError, match="seeds, tasks"):
        pooled_paired([(1, 0)], [(1, 0, 0)])


def test_seed_task_ci_resamples_tasks_once_for_all_seeds():
    from agentprm_bench.report.stats import seed_task_ci

    # three seeds that agree on every task: each resample's mean is its drawn tasks' mean whatever
    # seeds it draws, so the interval is the tasks' bootstrap, as wide as with one seed. Tasks drawn
    # anew within each seed (a nested bootstrap) would average three task draws: ~1/sqrt(3) as wide.
    row = [1.0] * 12 + [0.0] * 28
    lo1, hi1 = seed_task_ci([row])
    lo3, hi3 = seed_task_ci([row] * 3)
    assert 0.85 < (hi3 - lo3) / (hi1 - lo1) < 1.15
    assert lo3 < 0.3 < hi3
    # seeds that disagree and tasks that do not: the seeds' spread alone (the means 1 and 0 can be drawn alone)
    assert seed_task_ci([[1.0] * 20, [0.0] * 20]) == (0.0, 1.0)
