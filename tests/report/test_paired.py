"""The paired table from result records: pairing, a hand-computable case, Holm, privileged flags."""

from __future__ import annotations

import pytest

from agentprm_bench.report.paired import holm, paired_table
from agentprm_bench.search.results import ResultRecord, TaskResult


def record(method: str, successes: list[float], search: str = "bon", budget: int = 4, seed: int = 0,
           expand: int = 1, policy: dict | None = None) -> ResultRecord:
    tasks = tuple(TaskResult(task_id=i, reward=s, success=s) for i, s in enumerate(successes))
    return ResultRecord(method=method, reward_model=None, policy=policy or {"name": "hf"}, env_id="agentprm/TextCraft-v1",
                        env_version=1, split="test", search=search, budget=budget, width=budget // expand,
                        expand=expand,
                        aggregate="last", metric="success", value=sum(successes) / len(successes), ci_low=0.0,
                        ci_high=1.0, success_rate=0.0, mean_reward=0.0, tasks=tasks, compute={},
                        config={"method": method, "budget": budget, "seed": seed}, seed=seed, git_commit="x", packages={})


def test_hand_computable_pair():
    # a wins on tasks 0-2, ties elsewhere: d = (1, 1, 1, 0, 0, 0); exact sign flips: only the
    # patterns fixing all three nonzero signs equal reach |mean| 0.5 -> p = 2/8
    a = record("agentprm", [1, 1, 1, 0, 1, 0])
    b = record("orm", [0, 0, 0, 0, 1, 0])
    none = record("none", [0.5, 0.5, 0.25, 0, 1, 0], search="sample")
    table = paired_table([a, b, none])
    row = table[(table.method_a == "agentprm") & (table.method_b == "orm")].iloc[0]
    assert row["diff"] == pytest.approx(0.5) and row["p"] == pytest.approx(0.25)
    assert 0.0 <= row["ci_low"] <= 0.5 <= row["ci_high"] <= 1.0
    assert {"agentprm", "none", "orm"} == set(table.method_a) | set(table.method_b)  # BoN pairs with plain sampling
    assert list(table.p_holm) == holm(list(table.p))


def test_only_the_same_tasks_budget_and_seed_pair():
    rs = [record("agentprm", [1, 0]), record("orm", [0, 0], budget=8), record("pvm", [1, 1], seed=1),
          record("orm", [1, 0, 1])]
    assert paired_table(rs).empty


def test_holm_and_privileged():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    t = paired_table([record("oracle-select", [1, 1]), record("orm", [0, 1])])
    assert bool(t.privileged.iloc[0])


def test_pooled_over_seeds_hand_computable():
    # seed 0: d = (1, 1, 0, 0); seed 1: d = (1, 0, 0, -1) -> seed-averaged per-task d = (1, .5, 0, -.5),
    # mean .25; exact sign flips of (1, .5, .5) (the 0 contributes nothing): |mean| >= .25 for the
    # patterns whose signed sum has |.| >= 1: (+,+,+) 2, (+,+,-) 1, (+,-,+) 1, (+,-,-) 0 and mirrors -> 6/8
    rs = [record("agentprm", [1, 1, 0, 0]), record("orm", [0, 0, 0, 0]),
          record("agentprm", [1, 0, 0, 0], seed=1), record("orm", [0, 0, 0, 1], seed=1)]
    t = paired_table(rs)
    assert list(t.seed) == ["0", "1", "all"]
    row = t.iloc[-1]
    assert row["seeds"] == 2 and row["diff"] == pytest.approx(0.25) and row["p"] == pytest.approx(0.75)
    assert row["value_a"] == pytest.approx(0.375) and row["value_b"] == pytest.approx(0.125)
    assert row["ci_low"] < 0.25 < row["ci_high"] and row["p_holm"] == row["p"]  # its own Holm family
    # the seeds-and-tasks interval holds the between-seed spread: wider than the seed-averaged task bootstrap
    from agentprm_bench.report.stats import paired
    flat = paired([1, .5, 0, 0], [0, 0, 0, .5])
    assert row["ci_high"] - row["ci_low"] >= flat.ci_high - flat.ci_low


def test_pooled_needs_the_same_tasks_and_two_seeds():
    rs = [record("agentprm", [1, 1]), record("orm", [0, 0]),
          record("agentprm", [1, 0, 1], seed=1), record("orm", [0, 0, 0], seed=1)]
    assert "all" not in set(paired_table(rs).seed)


def test_beam_shapes_of_one_budget_do_not_pair():
    rs = [record("agentprm", [1, 0], search="beam", budget=16, expand=4),
          record("orm", [0, 0], search="beam", budget=16, expand=2)]
    assert paired_table(rs).empty
    rs[1] = record("orm", [0, 0], search="beam", budget=16, expand=4)
    assert len(paired_table(rs)) == 1


def test_seeds_pool_by_the_policys_weights_not_its_directory():
    """Seeds sampled from one policy loaded from two directories (two machines' caches) pool; seeds
    sampled from two policies never do, nor do records naming no digest from different directories."""
    def policy(path: str, digest: str | None) -> dict:
        return {"name": "hf", "model": path, "temperature": 0.7, **({"weights_sha256": digest} if digest else {})}

    def two_seeds(p0: dict, p1: dict) -> list[ResultRecord]:
        return [record("agentprm", [1, 1, 0], policy=p0), record("orm", [0, 1, 0], policy=p0),
                record("agentprm", [1, 0, 0], seed=1, policy=p1), record("orm", [0, 0, 0], seed=1, policy=p1)]

    assert "all" in set(paired_table(two_seeds(policy("/a/babyai", "48"), policy("/b/babyai", "48"))).seed)
    assert "all" not in set(paired_table(two_seeds(policy("/a/babyai", "c3"), policy("/a/babyai", "48"))).seed)
    assert "all" not in set(paired_table(two_seeds(policy("/a/babyai", None), policy("/b/babyai", None))).seed)
    mixed = [record("agentprm", [1, 1, 0], policy=policy("/a", "c3")), record("orm", [0, 1, 0], policy=policy("/a", "48"))]
    assert paired_table(mixed).empty  # one seed, two policies: not the same samples
