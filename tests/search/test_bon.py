"""Best-of-N: argmax selection, aggregations, exact compute accounting."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.errors import UserError
from agentprm_bench.search.bon import aggregate, select
from agentprm_bench.search.run import RunConfig, run
from tests.search.conftest import CountingPolicy, FunctionScorer


def pseudo(env_id, observations, actions) -> float:
    """A deterministic score that is unrelated to success."""
    return (zlib.crc32("|".join(actions).encode()) % 1000) / 1000


def test_aggregations():
    s = np.array([0.2, 0.9, 0.5])
    assert aggregate(s, "last") == 0.5 and aggregate(s, "min") == 0.2 and aggregate(s, "mean") == pytest.approx(1.6 / 3)
    with pytest.raises(UserError, match="unknown aggregation 'max'"):
        aggregate(s, "max")
    assert select([0.1, 0.7, 0.7, 0.3]) == 1  # the first of equal scores


def same_samples(record, samples: int, seed: int):
    """The samples a run drew, redrawn: the same policy and seed give the same trajectories."""
    return collect_in_memory("agentprm/TextCraft-v1", CountingPolicy(), [r.task_id for r in record.tasks], samples,
                             seed, env_kwargs={"split": "test"})


@pytest.mark.parametrize("how", ["last", "min"])
def test_bon_keeps_the_argmax_and_counts_compute_exactly(tmp_path, bench_home, how):
    cfg = RunConfig(method="pvm", budget=4, env="textcraft", tasks=3, seed=5, aggregate=how, out=str(tmp_path))
    scorer = FunctionScorer(pseudo)
    record = run(cfg, progress=False, scorer=scorer, policy=CountingPolicy())
    pool = same_samples(record, 4, 5)
    assert scorer.calls == 1  # every sample of every task in one scoring call
    for task in record.tasks:
        trajs = [t for t in pool if t.task_id == task.task_id]
        scores = [aggregate(np.array([pseudo(t.env_id, t.observations[: i + 1], t.actions[: i + 1])
                                      for i in range(len(t.steps))]), how) for t in trajs]
        best = int(np.argmax(scores))
        assert task.chosen == trajs[best].sample_index and task.score == pytest.approx(scores[best])
        assert task.success == float(trajs[best].won) and task.reward == trajs[best].final_reward
    c = record.compute
    assert c["policy_tokens_out"] == sum(len(a) for t in pool for a in t.actions)
    assert c["policy_tokens_in"] == sum(i + 1 for t in pool for i in range(len(t.steps)))
    assert c["rm_tokens"] == sum(len(t.actions) for t in pool)  # the scorer reads one token per action
    assert c["env_steps"] == sum(len(t.steps) for t in pool) and c["trajectories"] == 12
    assert record.budget == 4 and record.width == 4 and record.search == "bon"
    assert record.value == pytest.approx(np.mean([t.success for t in record.tasks]))
    assert record.ci_low <= record.value <= record.ci_high


def test_plain_sampling_reports_the_mean_over_the_samples(tmp_path, bench_home):
    cfg = RunConfig(method="none", budget=4, env="textcraft", tasks=3, seed=5, out=str(tmp_path))
    record = run(cfg, progress=False, policy=CountingPolicy())
    pool = same_samples(record, 4, 5)
    for task in record.tasks:
        assert task.success == pytest.approx(np.mean([t.won for t in pool if t.task_id == task.task_id]))
    assert record.search == "sample" and record.reward_model is None and record.compute["rm_tokens"] == 0
    assert record.compute["env_steps"] == round(sum(len(t.steps) for t in pool) / 4)


def test_beam_search_needs_a_reward_model(tmp_path, bench_home):
    with pytest.raises(UserError, match="beam search needs a reward model"):
        run(RunConfig(method="none", search="beam", out=str(tmp_path)), progress=False, policy=CountingPolicy())
    with pytest.raises(UserError, match="unknown method 'agentprn'.*Did you mean 'agentprm'"):
        run(RunConfig(method="agentprn", out=str(tmp_path)), progress=False)


def test_oracle_selection_is_pass_at_n(tmp_path, bench_home):
    cfg = RunConfig(method="oracle-select", budget=4, env="textcraft", tasks=4, seed=2, out=str(tmp_path))
    record = run(cfg, progress=False, policy=CountingPolicy())
    pool = same_samples(record, 4, 2)
    for task in record.tasks:
        assert task.success == float(any(t.won for t in pool if t.task_id == task.task_id))
    assert record.search == "bon" and record.compute["rm_tokens"] == 0
