"""benchmarks/bootstrap_coverage.py: the simulation behind ``seed_task_ci``'s design, at a tiny size."""

from __future__ import annotations

import sys

import numpy as np

from tests.benchmark_scripts import load_benchmark


def test_table_has_a_row_per_setting_and_the_nested_interval_is_the_narrower(monkeypatch, capsys):
    script = load_benchmark("bootstrap_coverage")
    monkeypatch.setattr(sys, "argv", ["bootstrap_coverage.py", "--datasets", "4", "--tasks", "12"])
    script.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(script.SETTINGS)
    for row in rows:
        cells = [float(c) for c in row.strip("|").split("|")]
        assert all(0.0 <= c <= 1.0 for c in cells[3::2])  # coverages
    # three seeds that agree: the nested interval averages three task draws, ~1/sqrt(3) as wide
    from agentprm_bench.report.stats import seed_task_ci

    x = np.array([[1.0] * 12 + [0.0] * 28] * 3)
    lo, hi = seed_task_ci(list(x))
    nlo, nhi = script.nested(x, np.random.default_rng(0))
    assert (nhi - nlo) < 0.75 * (hi - lo)
