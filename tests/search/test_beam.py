"""Beam search: a perfect reward model lifts a weak policy; compute counts are exact."""

from __future__ import annotations

import gymnasium as gym
import pytest

from agentprm_bench.search.beam import beam_search
from agentprm_bench.search.run import RunConfig, beam_shape, run
from tests.search.conftest import CountingPolicy, FunctionScorer, oracle_scorer

ENV = "agentprm/TextCraft-v1"


def first_observations(env_id: str, task_ids: list[int]) -> dict[str, int]:
    env = gym.make(env_id, split="test").unwrapped
    return {env.reset(options={"task_id": t})[0]: t for t in task_ids}


def test_beam_shape():
    assert beam_shape(32, 4) == (8, 4) and beam_shape(2, 4) == (1, 2) and beam_shape(6, 4) == (1, 4)


def test_a_perfect_reward_model_solves_tasks_a_random_policy_does_not(tmp_path, bench_home):
    tasks = 8
    ids = list(gym.make(ENV).unwrapped.splits()["train"][:tasks])  # depth-1 goals: short oracle replays
    scorer = oracle_scorer(first_observations(ENV, ids))
    beam = run(RunConfig(method="agentprm", search="beam", budget=16, expand=4, env="textcraft", tasks=tasks,
                         split="train", out=str(tmp_path)), progress=False, scorer=scorer, policy=CountingPolicy())
    alone = run(RunConfig(method="none", budget=16, env="textcraft", tasks=tasks, split="train", out=str(tmp_path)),
                progress=False, policy=CountingPolicy())
    assert beam.success_rate == 1.0
    hard = [t.task_id for t in alone.tasks if t.success <= 0.25]  # random wins at most 4 of 16 samples
    assert hard, [t.success for t in alone.tasks]
    assert all(t.success == 1.0 for t in beam.tasks if t.task_id in hard)
    assert (beam.width, beam.expand, beam.budget) == (4, 4, 16)


def test_beam_compute_is_counted_exactly():
    policy = CountingPolicy()
    read = []

    def f(env_id, observations, actions):
        return float(len(actions) % 3) / 3

    scorer = FunctionScorer(f)
    original = scorer.score_each

    def counting(trajectories):
        read.extend(len(a) for _, _, a in trajectories)
        return original(trajectories)

    scorer.score_each = counting
    tid = gym.make(ENV).unwrapped.splits()["test"][0]
    res = beam_search(ENV, tid, policy, scorer, width=2, expand=3, seed=1, env_kwargs={"split": "test"})
    c = res.compute
    assert c.policy_tokens_out == policy.tokens_out and c.policy_tokens_in == policy.tokens_in
    assert c.rm_tokens == sum(read)
    assert c.env_steps == c.trajectories == len(read) <= policy.samples  # duplicates are stepped once
    assert res.best.done and res.best.score == max(n.score for n in res.finished)
    again = beam_search(ENV, tid, CountingPolicy(), FunctionScorer(f), width=2, expand=3, seed=1,
                        env_kwargs={"split": "test"})
    assert again.best.history.actions == res.best.history.actions  # deterministic under the seed


def test_the_first_step_expands_n_times_m():
    policy = CountingPolicy()
    tid = gym.make(ENV).unwrapped.splits()["test"][1]
    beam_search(ENV, tid, policy, FunctionScorer(lambda e, o, a: 0.0), width=3, expand=2, seed=0,
                env_kwargs={"split": "test", "max_turns": 1})
    assert policy.samples == 6


@pytest.mark.parametrize("max_len", [4096, 512])  # paths fit; long paths read in moving windows
@pytest.mark.parametrize("env_id,task", [("agentprm/TextCraft-v1", 0), ("agentprm/BabyAI-v1", 3)])
def test_cached_beam_search_reads_fewer_tokens_and_selects_the_same(tiny_model_dir, env_id, task, max_len):
    """The reward model's per-path cache (score_extensions) against re-encoding (score_expansions):
    the same scores, hence the same beam and answer, with fewer reward-model tokens read."""
    import numpy as np
    import torch

    from agentprm_bench.agents.base import make_policy
    from agentprm_bench.prm.model import RewardModel

    torch.manual_seed(0)
    rm = RewardModel.from_backbone(tiny_model_dir, {"kind": "agentprm", "max_obs_chars": 300, "max_len": max_len},
                                   device="cpu")
    torch.nn.init.normal_(rm.model.head.weight, std=0.5)
    policy = make_policy("noisy-oracle", p=0.5)
    a = beam_search(env_id, task, policy, rm, 2, 2, seed=0, cached=True)
    if max_len < 4096:
        assert len(rm.windows(rm.encode(env_id, a.best.history.observations, a.best.history.actions))) >= 3
    b = beam_search(env_id, task, policy, rm, 2, 2, seed=0, cached=False)
    assert [s.action for s in a.best.steps] == [s.action for s in b.best.steps]
    np.testing.assert_allclose([n.score for n in a.finished], [n.score for n in b.finished], atol=1e-5)
    assert a.compute.rm_tokens < b.compute.rm_tokens
    assert a.compute.policy_tokens_out == b.compute.policy_tokens_out and a.compute.env_steps == b.compute.env_steps


@pytest.mark.parametrize("policy_name", ["noisy-oracle", "hf"])
def test_tasks_searched_together_equal_tasks_searched_alone(tiny_model_dir, policy_name):
    """beam_search_many (all tasks' nodes in one policy call and one reward-model call per depth, the
    reward model's batches cut by a token budget) finds what a search per task finds: the same
    answers, scores to 1e-5, and the same compute in total."""
    import numpy as np
    import torch

    from agentprm_bench.agents.base import make_policy
    from agentprm_bench.prm.model import RewardModel
    from agentprm_bench.search.beam import beam_search_many

    torch.manual_seed(0)
    rm = RewardModel.from_backbone(tiny_model_dir, {"kind": "agentprm", "max_obs_chars": 300, "max_len": 4096},
                                   device="cpu")
    torch.nn.init.normal_(rm.model.head.weight, std=0.5)
    policy = make_policy("noisy-oracle", p=0.5) if policy_name == "noisy-oracle" else \
        make_policy("hf", model=str(tiny_model_dir), decoding="admissible", max_new_tokens=8)
    env_id, tasks = "agentprm/TextCraft-v1", [0, 1, 2, 3]
    kw = {"max_turns": 4} if policy_name == "hf" else {}
    alone = [beam_search(env_id, t, policy, rm, 2, 2, seed=0, env_kwargs=kw) for t in tasks]
    rm.max_batch_tokens = 600  # many small batches
    (best, finished), compute = beam_search_many(env_id, tasks, policy, rm, 2, 2, seed=0, env_kwargs=kw)
    for a, b, f in zip(alone, best, finished):
        assert [s.action for s in a.best.steps] == [s.action for s in b.steps]
        np.testing.assert_allclose([n.score for n in a.finished], [n.score for n in f], atol=1e-5)
    assert compute.rm_tokens == sum(a.compute.rm_tokens for a in alone)
    assert compute.env_steps == sum(a.compute.env_steps for a in alone)
    assert compute.policy_tokens_out == sum(a.compute.policy_tokens_out for a in alone)


@pytest.mark.parametrize("env_id,task", [("agentprm/TextCraft-v1", 0), ("agentprm/BabyAI-v1", 3)])
def test_beam_keeps_each_paths_policy_cache(tiny_model_dir, long_model_dir, env_id, task):
    """The policy's per-path prompt cache (act_cached) against reading every prompt whole: the same
    samples, beam and answer, with fewer prompt tokens computed."""
    import numpy as np
    import torch

    from agentprm_bench.agents.base import make_policy
    from agentprm_bench.prm.model import RewardModel

    torch.manual_seed(0)
    rm = RewardModel.from_backbone(tiny_model_dir, {"kind": "agentprm", "max_obs_chars": 300, "max_len": 4096},
                                   device="cpu")
    torch.nn.init.normal_(rm.model.head.weight, std=0.5)
    runs = [beam_search(env_id, task, make_policy("hf", model=str(long_model_dir), decoding="admissible",
                                                  max_prompt_chars=100_000, prompt_cache=cache), rm, 2, 2, seed=0,
                        env_kwargs={"max_turns": 4}) for cache in (True, False)]
    a, b = runs
    assert [s.action for s in a.best.steps] == [s.action for s in b.best.steps]
    np.testing.assert_allclose([n.score for n in a.finished], [n.score for n in b.finished], atol=1e-5)
    assert a.compute.policy_tokens_out == b.compute.policy_tokens_out and a.compute.env_steps == b.compute.env_steps
    assert 0 < a.compute.policy_tokens_in < b.compute.policy_tokens_in
