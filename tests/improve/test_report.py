"""improve's tables: CIs over seeds and tasks, paired final policies, the plot command."""

from __future__ import annotations

import json

import pytest

from agentprm_bench.cli import main
from agentprm_bench.errors import UserError
from agentprm_bench.improve.report import final_pairs, load, success_table
from agentprm_bench.report.stats import seed_task_ci


def _run(root, reward, seed, wons):
    d = root / f"{reward}-s{seed}"
    d.mkdir(parents=True)
    lines = []
    for it, won in enumerate(wons):
        lines.append(json.dumps({"config": {"env": "agentprm/BabyAI-v1", "reward": reward, "seed": seed},
                                 "iteration": it, "test": {"won": won, "task_ids": list(range(len(won))),
                                                           "success": sum(won) / len(won)},
                                 "compute": {} if it == 0 else {"policy_tokens_out": 100, "rm_tokens": 50}}))
    (d / "improve.jsonl").write_text("\n".join(lines) + "\n")
    return d


def test_seed_task_ci_is_a_point_without_any_spread_and_widens_with_seed_spread():
    assert seed_task_ci([[1.0, 1.0], [1.0, 1.0]]) == (1.0, 1.0)
    lo, hi = seed_task_ci([[1.0] * 20, [0.0] * 20])  # seeds disagree completely: tasks alone hide it
    assert lo == 0.0 and hi == 1.0


def test_table_and_paired_final_policies_by_hand(tmp_path):
    start = [0.0] * 8
    for s in (0, 1):
        _run(tmp_path, "agentprm", s, [start, [1.0] * 6 + [0.0] * 2])
        _run(tmp_path, "outcome", s, [start, [1.0] * 2 + [0.0] * 6])
    df = load([tmp_path])
    assert list(df[df["run"].str.endswith("agentprm-s0")]["total_tokens"]) == [0, 150]
    table = success_table(df)
    row = table[(table.reward == "agentprm") & (table.iteration == 1)].iloc[0]
    assert row["seeds"] == 2 and row["success"] == 0.75 and row["per_seed"] == "0.750 0.750"
    pairs = final_pairs(df)
    assert len(pairs) == 1
    p = pairs.iloc[0]
    # per task: agentprm - outcome = [0, 0, 1, 1, 1, 1, 0, 0]: mean 0.5; exact sign-flip p = 2 / 16
    assert (p.reward_a, p.reward_b, p.seeds, p.tasks) == ("agentprm", "outcome", 2, 8)
    assert p["diff"] == 0.5 and abs(p["p"] - 2 / 16) < 1e-12 and p["p_holm"] == p["p"]
    assert 0.0 < p.ci_low <= 0.5 <= p.ci_high <= 1.0


def test_plot_writes_the_improve_figures_and_tables(tmp_path):
    for s in (0, 1):
        _run(tmp_path / "runs", "agentprm", s, [[0.0, 1.0], [1.0, 1.0]])
        _run(tmp_path / "runs", "outcome", s, [[0.0, 1.0], [0.0, 1.0]])
    assert main(["plot", str(tmp_path / "runs"), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "improve_BabyAI-v1.png").stat().st_size > 0
    text = (tmp_path / "fig" / "improve.md").read_text()
    assert "agentprm" in text and "p_holm" in text


def test_the_env_metric_is_what_is_compared(tmp_path):
    d = _run(tmp_path, "agentprm", 0, [[1.0, 0.0]])
    record = json.loads((d / "improve.jsonl").read_text())
    record["test"].update(metric="reward", values=[0.5, 0.25])
    (d / "improve.jsonl").write_text(json.dumps(record) + "\n")
    row = success_table(load([tmp_path])).iloc[0]
    assert row["metric"] == "reward" and row["success"] == 0.375


def test_a_damaged_record_is_a_one_line_error(tmp_path):
    d = _run(tmp_path, "agentprm", 0, [[1.0]])
    (d / "improve.jsonl").write_text("{not json\n")
    with pytest.raises(UserError, match=r"improve.jsonl:1 is not an improve record"):
        load([tmp_path])
