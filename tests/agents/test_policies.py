"""Contract tests over every registered policy."""

from __future__ import annotations

import gymnasium as gym
import pytest

from agentprm_bench.agents.base import POLICIES, ActionSample, History, make_policy
from agentprm_bench.errors import UserError

ENV = "agentprm/BabyAI-v1"


def histories(n: int = 3) -> list[History]:
    out = []
    for task in range(n):
        env = gym.make(ENV).unwrapped
        obs, info = env.reset(options={"task_id": task})
        h = History(ENV, task, [obs], [], info["admissible_actions"], env)
        if task % 2:  # one history a step in
            obs, *_, info = env.step("turn left")  # never ends an episode
            h.actions.append(env.history[-1])
            h.observations.append(obs)
            h.admissible_actions = info["admissible_actions"]
        out.append(h)
    return out


@pytest.fixture()
def policy_factory(tiny_model_dir, completions_server):
    def build(name: str):
        options = {"hf": {"model": str(tiny_model_dir), "max_new_tokens": 8},
                   "vllm": {"base_url": completions_server.base_url, "max_new_tokens": 8},
                   "noisy-oracle": {"p": 0.5}}.get(name, {})
        return make_policy(name, **options)

    return build


def test_every_registered_policy_is_covered():
    assert set(POLICIES.names()) == {"random", "oracle", "noisy-oracle", "hf", "vllm"}


@pytest.mark.parametrize("name", POLICIES.names())
def test_batch_in_batch_out_with_k_samples(policy_factory, name):
    policy = policy_factory(name)
    hs = histories(3)
    out = policy.act(hs, 4, seeds=[11, 12, 13])
    assert len(out) == 3 and all(len(row) == 4 for row in out)
    assert all(isinstance(s, ActionSample) and isinstance(s.action, str) for row in out for s in row)
    assert policy.describe()["name"] == name


@pytest.mark.parametrize("name", POLICIES.names())
def test_same_seeds_same_samples_and_batch_independence(policy_factory, name):
    policy = policy_factory(name)
    hs = histories(3)
    a = policy.act(hs, 2, seeds=[5, 6, 7])
    b = policy.act(hs, 2, seeds=[5, 6, 7])
    assert a == b
    alone = policy.act(hs[1:2], 2, seeds=[6])  # a history's samples do not depend on its batch
    assert alone[0] == a[1]


@pytest.mark.parametrize("name", ["random", "noisy-oracle", "hf", "vllm"])
def test_different_seeds_can_give_different_samples(policy_factory, name):
    policy = policy_factory(name)
    h = histories(1)
    outs = {tuple(s.raw for s in policy.act(h, 3, seeds=[s])[0]) for s in range(8)}
    assert len(outs) > 1


@pytest.mark.parametrize("name", ["hf", "vllm"])
def test_unparseable_replies_become_invalid_env_steps(policy_factory, completions_server, name):
    completions_server.reply = lambda prompt, seed: "   \n  "
    policy = policy_factory(name)
    hs = histories(2)
    for row, h in zip(policy.act(hs, 2, seeds=[1, 2]), hs):
        for s in row:
            obs, reward, terminated, truncated, info = h.env.step(s.action)  # never raises
            if not s.parsed:
                assert info["valid_action"] is False
    if name == "vllm":
        assert all(not s.parsed and s.action == "" for row in policy.act(hs, 1, seeds=[1, 2]) for s in row)


def test_tokens_are_counted_for_learned_policies(policy_factory):
    for name in ("hf", "vllm"):
        sample = policy_factory(name).act(histories(1), 1, seeds=[3])[0][0]
        assert sample.tokens_in > 10 and sample.tokens_out >= 1


def test_oracle_policy_needs_the_env_and_noisy_p_is_checked():
    h = histories(1)[0]
    h.env = None
    with pytest.raises(ValueError, match="live env"):
        make_policy("oracle").act([h], 1, [0])
    with pytest.raises(ValueError, match="p must be"):
        make_policy("noisy-oracle", p=1.5)


def test_unknown_policy_and_missing_model_dir_give_clear_errors(tmp_path):
    with pytest.raises(UserError, match="Did you mean 'oracle'"):
        make_policy("oracel")
    with pytest.raises(UserError, match="model directory .* not found .* train-policy"):
        make_policy("hf", model=str(tmp_path / "nowhere"))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="could not load the model"):
        make_policy("hf", model=str(tmp_path))


def test_admissible_decoding_only_yields_admissible_actions(tiny_model_dir):
    policy = make_policy("hf", model=str(tiny_model_dir), decoding="admissible", max_new_tokens=2)
    hs = histories(3)
    for h, row in zip(hs, policy.act(hs, 5, seeds=[1, 2, 3])):
        for s in row:  # an untrained model, a tiny token limit: still whole admissible actions
            assert s.parsed and s.action in h.admissible_actions
    assert policy.describe()["decoding"] == "admissible"
    assert policy.describe()["weights_sha256"] is None  # stored without train-policy's metadata: none to name
    with pytest.raises(UserError, match="decoding must be"):
        make_policy("hf", model=str(tiny_model_dir), decoding="beam")


def test_records_name_the_weights_digest_train_policy_stored(tiny_model_dir, tmp_path):
    import json
    import shutil

    from agentprm_bench.schema import file_digest

    model = tmp_path / "policy"
    shutil.copytree(tiny_model_dir, model)
    digest = file_digest(model / "model.safetensors")
    (model / "agentprm_policy.json").write_text(json.dumps({"weights_sha256": digest, "prompt": {}}))
    assert make_policy("hf", model=str(model)).describe()["weights_sha256"] == digest
