"""benchmarks/compare_policies.py: per-task values are the mean over a task's samples, and a policy
compared with itself on the same seeds differs by exactly nothing."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def script():
    return load_benchmark("compare_policies")


def test_per_task_values_average_each_tasks_samples_in_task_order(script):
    trajs = [SimpleNamespace(task_id=t, won=w, final_reward=r, steps=[0] * n)
             for t, w, r, n in ((5, True, 1.0, 2), (3, False, 0.2, 4), (5, False, 0.0, 6), (3, False, 0.4, 4))]
    assert script.per_task(trajs, [3, 5], "won") == [0.0, 0.5]
    assert script.per_task(trajs, [3, 5], "final_reward") == pytest.approx([0.3, 0.5])
    assert script.per_task(trajs, [3, 5], "turns") == [4.0, 4.0]


def test_a_policy_against_itself_differs_by_nothing(script, tiny_model_dir, monkeypatch, capsys):
    model = str(tiny_model_dir)
    monkeypatch.setattr(sys, "argv", ["compare_policies.py", model, model, "--env", "babyai", "--tasks", "2",
                                      "--samples", "2", "--threads", "1"])
    script.main()
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
            if line.strip().startswith(("success", "turns"))}
    assert set(rows) == {"success", "turns"}
    assert all(float(r[3]) == 0.0 and float(r[-1]) == 1.0 for r in rows.values())  # A - B and its p
