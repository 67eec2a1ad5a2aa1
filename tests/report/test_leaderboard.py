"""Efficiency table and markdown rendering on hand-made results."""

from __future__ import annotations

import math

import pandas as pd

from agentprm_bench.report.leaderboard import efficiency, leaderboard, to_markdown


def frame() -> pd.DataFrame:
    rows = []
    curves = {"agentprm": [0.30, 0.45, 0.55, 0.60], "orm": [0.30, 0.35, 0.40, 0.45]}
    for method, values in curves.items():
        for budget, v in zip((1, 2, 4, 8), values):
            rows.append({"env": "E", "search": "bon", "method": method, "budget": budget, "value": v,
                         "ci_low": v - 0.1, "ci_high": v + 0.1, "metric": "success", "tasks": 30,
                         "total_tokens": budget * (150 if method == "agentprm" else 100)})
    rows.append({"env": "E", "search": "sample", "method": "none", "budget": 8, "value": 0.3, "ci_low": 0.2,
                 "ci_high": 0.4, "metric": "success", "tasks": 30, "total_tokens": 90})
    return pd.DataFrame(rows)


def test_efficiency_is_the_budget_where_a_method_first_reaches_the_baselines_best():
    eff = efficiency(frame(), baselines=("orm", "none"))
    row = eff[(eff.method == "agentprm") & (eff.baseline == "orm")].iloc[0]
    # ORM's best is 0.45 at N=8; AgentPRM reaches 0.45 at N=2: 4x fewer samples, 8*100/(2*150) fewer tokens
    assert row.baseline_best == 0.45 and row.baseline_budget == 8 and row.method_budget == 2
    assert row.budget_ratio == 4 and math.isclose(row.token_ratio, 800 / 300)
    vs_none = eff[(eff.method == "orm") & (eff.baseline == "none")].iloc[0]
    assert vs_none.method_budget == 1  # plain sampling's 0.30 is matched at once
    never = efficiency(frame().assign(value=lambda d: d.value.where(d.method != "agentprm", 0.1)), ("orm",))
    assert math.isnan(never.iloc[0].method_budget)


def test_leaderboard_pivots_budgets_and_renders_markdown():
    table = leaderboard(frame())
    assert list(table.columns) == ["env", "metric", "tasks", "search", "method", "@1", "@2", "@4", "@8"]
    text = to_markdown(table)
    assert "| E | success | 30 | bon | agentprm | 0.300 [0.20, 0.40] |" in text and text.count("\n") == 2 + 3


def paired_frame(agentprm_at_8: list[float]) -> pd.DataFrame:
    """20 tasks; ORM's best (0.5) at N=4; AgentPRM reaches 0.5 at N=2, and N=8 is given."""
    ids = tuple(range(20))
    half = (1.0,) * 10 + (0.0,) * 10
    curves = {"orm": {1: (0.0,) * 20, 2: (1.0,) * 5 + (0.0,) * 15, 4: half},
              "agentprm": {1: (0.0,) * 20, 2: half, 8: tuple(agentprm_at_8)}}
    rows = []
    for method, by_budget in curves.items():
        for budget, vals in by_budget.items():
            rows.append({"env": "E", "search": "bon", "method": method, "budget": budget,
                         "value": sum(vals) / 20, "metric": "success", "tasks": 20, "total_tokens": budget,
                         "task_ids": ids, "task_values": vals})
    return pd.DataFrame(rows)


def test_efficiency_credits_a_budget_only_if_no_larger_one_is_significantly_worse():
    kept = efficiency(paired_frame([1.0] * 10 + [0.0] * 10), ("orm",)).iloc[0]
    assert kept.method_budget == 2 and kept.budget_ratio == 2 and kept.paired_diff == 0.0 and kept.paired_p == 1.0
    # at N=8 AgentPRM solves none of the 10 tasks ORM@4 solves: significantly worse (p = 2/1024), so
    # the touch at N=2 is not credited, and nothing later reaches ORM's best
    fell = efficiency(paired_frame([0.0] * 20), ("orm",)).iloc[0]
    assert math.isnan(fell.method_budget) and math.isnan(fell.budget_ratio)
    # where it fell, and its test (ORM@4 - AgentPRM@8: +1 on 10 of 20 tasks)
    import numpy as np

    from agentprm_bench.report.stats import sign_flip_p
    assert (fell.fell_budget, fell.fell_diff) == (8, -0.5) and fell.fell_p == sign_flip_p(-np.array([1.0] * 10 + [0.0] * 10))
    assert fell.fell_p < 0.01
    assert math.isnan(kept.fell_budget)


def test_loaded_records_carry_the_reward_models_one_off_cost(tmp_path):
    import json

    from agentprm_bench.report.leaderboard import load
    from agentprm_bench.search.results import ResultRecord, TaskResult

    rm = {"path": "rm", "kind": "agentprm", "label_compute": {"sampled_tokens": 5000, "prompt_tokens": 90000,
                                                              "env_steps": 300, "trajectories": 64, "rollouts": 0},
          "train_tokens": 20000}
    rec = ResultRecord(method="agentprm", reward_model=rm, policy={"name": "hf"}, env_id="agentprm/TextCraft-v1",
                       env_version=1, split="test", search="bon", budget=4, width=4, expand=1, aggregate="last",
                       metric="success", value=0.5, ci_low=0.0, ci_high=1.0, success_rate=0.5, mean_reward=0.5,
                       tasks=(TaskResult(0, 1.0, 1.0), TaskResult(1, 0.0, 0.0)),
                       compute={"policy_tokens_out": 100, "policy_tokens_in": 900, "rm_tokens": 400, "env_steps": 8,
                                "trajectories": 8, "wall_time_s": 1.0},
                       config={"method": "agentprm"}, seed=0, git_commit="x", packages={})
    (tmp_path / "results.jsonl").write_text(json.dumps(rec.to_json()) + "\n")
    row = load([tmp_path]).iloc[0]
    assert (row.total_tokens, row.label_tokens, row.rm_train_tokens, row.all_tokens) == (500, 5000, 20000, 25500)


def test_several_seeds_are_averaged_with_an_interval_over_seeds_and_tasks():
    from agentprm_bench.report.leaderboard import over_seeds
    from agentprm_bench.report.stats import seed_task_ci

    base = {"env": "E", "search": "bon", "method": "agentprm", "budget": 4, "metric": "success", "tasks": 4,
            "ci_low": 0.0, "ci_high": 1.0, "total_tokens": 1}
    rows = [dict(base, seed=0, value=1.0, task_values=(1.0,) * 4, timestamp="a"),
            dict(base, seed=1, value=0.0, task_values=(0.0,) * 4, timestamp="b")]
    row = over_seeds(pd.DataFrame(rows)).iloc[0]
    assert row.seeds == 2 and row.value == 0.5
    # tasks agree within each seed, so the whole spread is between seeds: the interval is [0, 1]
    assert (row.ci_low, row.ci_high) == (0.0, 1.0) == seed_task_ci([(1.0,) * 4, (0.0,) * 4])
    assert "0.500 [0.00, 1.00] (2 seeds)" in to_markdown(leaderboard(pd.DataFrame(rows)))
    single = over_seeds(pd.DataFrame(rows[:1])).iloc[0]
    assert (single.seeds, single.value, single.ci_low, single.ci_high) == (1, 1.0, 0.0, 1.0)


def test_over_seeds_counts_the_latest_record_of_each_seed_and_averages_every_cost():
    from agentprm_bench.report.leaderboard import over_seeds

    base = {"env": "E", "search": "bon", "method": "agentprm", "budget": 4, "metric": "success", "tasks": 2,
            "ci_low": 0.0, "ci_high": 1.0, "task_ids": (0, 1), "label_tokens": 100}
    rows = [dict(base, seed=1, value=1.0, task_values=(1.0, 1.0), timestamp="b", rm_train_tokens=30),
            dict(base, seed=0, value=0.5, task_values=(1.0, 0.0), timestamp="c", rm_train_tokens=10),
            dict(base, seed=0, value=0.0, task_values=(0.0, 0.0), timestamp="a", rm_train_tokens=99)]  # superseded
    row = over_seeds(pd.DataFrame(rows)).iloc[0]
    assert (row.seeds, row.seed_ids, row.seed_values) == (2, (0, 1), ((1.0, 0.0), (1.0, 1.0)))
    assert (row.value, row.rm_train_tokens, row.label_tokens) == (0.75, 20.0, 100.0)
    # one seed with a superseded record: the latest record's own value and interval
    one = over_seeds(pd.DataFrame([dict(rows[1], ci_low=0.1, ci_high=0.9), rows[2]])).iloc[0]
    assert (one.seeds, one.value, one.ci_low, one.ci_high, one.rm_train_tokens) == (1, 0.5, 0.1, 0.9, 10)
    # seeds on different tasks cannot be paired: no per-task values
    other = dict(rows[0], task_ids=(0, 2))
    assert over_seeds(pd.DataFrame([other, rows[1]])).iloc[0].seed_values is None


def test_sweep_seeds_multiply_the_grid():
    from agentprm_bench.search.sweep import SweepConfig, cells

    one = list(cells(SweepConfig(envs=("textcraft",), methods=("none",), searches=("bon",), budgets=(1, 2))))
    three = list(cells(SweepConfig(envs=("textcraft",), methods=("none",), searches=("bon",), budgets=(1, 2),
                                   seeds=(0, 1, 2))))
    assert len(three) == 3 * len(one) and [c.seed for c in three] == [0, 0, 1, 1, 2, 2]


def seeds_frame() -> pd.DataFrame:
    """Two seeds on 4 tasks. ORM: 0.5 at N=4 in both seeds (its seed-mean best). AgentPRM: seed 0
    already 0.75 at N=1, seed 1 0.0 there (mean 0.375 < 0.5); both seeds 0.5 at N=2."""
    ids = tuple(range(4))
    curves = {("orm", 0): {1: (0, 0, 0, 0), 4: (1, 1, 0, 0)}, ("orm", 1): {1: (0, 0, 0, 0), 4: (1, 1, 0, 0)},
              ("agentprm", 0): {1: (1, 1, 1, 0), 2: (1, 1, 0, 0)}, ("agentprm", 1): {1: (0, 0, 0, 0), 2: (1, 0, 1, 0)}}
    rows = []
    for (method, seed), by_budget in curves.items():
        for budget, vals in by_budget.items():
            rows.append({"env": "E", "search": "bon", "method": method, "budget": budget, "seed": seed,
                         "value": sum(vals) / 4, "metric": "success", "tasks": 4, "total_tokens": budget * (seed + 1),
                         "all_tokens": budget * (seed + 1), "task_ids": ids, "task_values": tuple(map(float, vals))})
    return pd.DataFrame(rows)


def test_efficiency_over_seeds_uses_the_seed_mean_curves_and_the_pooled_test():
    from agentprm_bench.report.stats import pooled_paired

    row = efficiency(seeds_frame(), ("orm",)).iloc[0]
    # seed 0's 0.75 at N=1 alone would credit N=1; the seed means reach ORM's 0.5 first at N=2
    assert (row.seeds, row.baseline_best, row.baseline_budget, row.method_budget) == (2, 0.5, 4, 2)
    # compute is the mean over the seeds: ORM@4 (4 + 8) / 2 = 6 tokens, AgentPRM@2 (2 + 4) / 2 = 3
    assert row.budget_ratio == 2 and row.token_ratio == 2 and row.all_token_ratio == 2
    test = pooled_paired([(1, 1, 0, 0), (1, 0, 1, 0)], [(1, 1, 0, 0), (1, 1, 0, 0)])
    assert (row.paired_diff, row.paired_ci_low, row.paired_ci_high, row.paired_p) == \
        (test.diff, test.ci_low, test.ci_high, test.p_value)
    assert test.diff == 0.0 and test.p_value == 1.0  # seed-averaged per-task d = (0, -.5, .5, 0): mean 0


def test_efficiency_pairs_budgets_measured_on_different_seeds_on_the_seeds_both_have():
    from agentprm_bench.report.stats import paired

    df = seeds_frame()
    df = df[~((df.method == "agentprm") & (df.seed == 1) & (df.budget == 2))]  # seed 1 cut before N=2
    row = efficiency(df, ("orm",)).iloc[0]
    # AgentPRM@2 rests on seed 0 (0.5, reaching ORM's 0.5); ORM@4 on seeds 0 and 1: paired on seed 0
    test = paired((1, 1, 0, 0), (1, 1, 0, 0))
    assert row.method_budget == 2 and (row.paired_diff, row.paired_p) == (test.diff, test.p_value) == (0.0, 1.0)
    assert (row.seeds, row.paired_seeds) == (2, 1)
    assert efficiency(seeds_frame(), ("orm",)).iloc[0].paired_seeds == 2


def test_scaling_figures_plot_one_point_per_budget_over_seeds(tmp_path, monkeypatch):
    import matplotlib.axes

    from agentprm_bench.report.plots import scaling_figures

    drawn = []
    real = matplotlib.axes.Axes.plot

    def spy(self, *args, **kwargs):
        drawn.append((kwargs.get("label"), list(args[0]), list(args[1])))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", spy)
    df = seeds_frame().assign(ci_low=0.0, ci_high=1.0, timestamp="t")
    assert [p.name for p in scaling_figures(df, tmp_path)] == ["scaling_E.png"]
    label, budgets, values = next(d for d in drawn if d[0] and d[0].startswith("agentprm"))
    assert label == "agentprm (2 seeds)" and budgets == [1, 2] and values == [0.375, 0.5]
    # a curve whose points rest on different seed counts (seed 1 not yet run at budget 2) says so
    drawn.clear()
    scaling_figures(df[~((df.seed == 1) & (df.budget == 2))], tmp_path)
    label = next(d[0] for d in drawn if d[0] and d[0].startswith("agentprm"))
    assert label == "agentprm (1-2 seeds)"


def test_an_env_whose_seeds_name_different_policies_is_flagged(tmp_path):
    from io import StringIO

    from agentprm_bench.cli import main
    from agentprm_bench.report.leaderboard import mixed_policies
    from agentprm_bench.jsonl import append_records
    from agentprm_bench.search.results import ResultRecord, TaskResult

    def rec(seed: int, digest: str | None, env: str = "agentprm/BabyAI-v1") -> ResultRecord:
        policy = {"name": "hf", "model": "/m", **({"weights_sha256": digest} if digest else {})}
        return ResultRecord(method="none", reward_model=None, policy=policy, env_id=env, env_version=1, split="test",
                            search="sample", budget=1, width=1, expand=1, aggregate="last", metric="reward",
                            value=0.5, ci_low=0.0, ci_high=1.0, success_rate=0.0, mean_reward=0.5,
                            tasks=(TaskResult(task_id=0, reward=0.5, success=0.0),), compute={
                                "policy_tokens_out": 1, "policy_tokens_in": 1, "rm_tokens": 0, "env_steps": 1,
                                "wall_time_s": 1.0},
                            config={"method": "none", "budget": 1, "seed": seed}, seed=seed, git_commit="x", packages={})

    same = [rec(0, "48094075ab"), rec(1, "48094075ab"), rec(2, None)]  # one unrecorded: not a second policy
    assert mixed_policies(same) == []
    mixed = same + [rec(2, "c3c63a23ff"), rec(0, "aa", env="agentprm/TextCraft-v1")]
    assert mixed_policies(mixed) == ["BabyAI-v1: records of different policies (seed 0: 48094075; seed 1: 48094075; "
                                     "seed 2: c3c63a23, not recorded); pooled over seeds they mean nothing"]
    for seed in (0, 1):
        (tmp_path / f"s{seed}").mkdir()
        append_records(tmp_path / f"s{seed}" / "results.jsonl", [rec(seed, ("c3c63a23ff", "48094075ab")[seed]).to_json()])
    out = StringIO()
    assert main(["leaderboard", str(tmp_path), "--out", str(tmp_path / "lb")], out=out) == 0
    assert (tmp_path / "lb" / "leaderboard.md").read_text().startswith("**Warning**: BabyAI-v1: records of different")
