"""The improve loop: pairs from a scorer move the policy; kill/resume; records and config."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from agentprm_bench.agents.base import History, make_policy
from agentprm_bench.agents.hf import HFPolicy
from agentprm_bench.envs import make_env
from agentprm_bench.errors import UserError
from agentprm_bench.improve import loop
from agentprm_bench.improve.loop import ImproveConfig, improve
from agentprm_bench.improve.updates import UpdateSettings, dpo_update

ENV = "agentprm/BabyAI-v1"


@pytest.fixture()
def policy_dir(tiny_model_dir, tmp_path):
    """The tiny untrained model, saved as a policy that decodes admissible actions."""
    path = tmp_path / "start"
    shutil.copytree(tiny_model_dir, path)
    meta = {"prompt": {"decoding": "admissible", "max_prompt_chars": 1200, "max_obs_chars": 800},
            "config": {"max_len": 256}}
    (path / "agentprm_policy.json").write_text(json.dumps(meta))
    return path


def _states(n: int) -> tuple[list[History], list[str]]:
    states, oracle = [], make_policy("oracle")
    for task in range(n):
        env = make_env(ENV)
        obs, info = env.reset(options={"task_id": task})
        states.append(History(ENV, task, [obs], [], info["admissible_actions"], env))
    best = [row[0].action for row in oracle.act(states, 1, [0] * n)]
    return states, best


def _agreement(policy_dir, states, best) -> tuple[float, float]:
    """(greedy agreement with the oracle, mean log-prob of the oracle's reply over the whole vocabulary)."""
    import torch

    from agentprm_bench.agents.bc import encode
    from agentprm_bench.improve.updates import _logps

    greedy = HFPolicy(str(policy_dir), temperature=0.0)
    chosen = [row[0].action for row in greedy.act(states, 1, [0] * len(states))]
    rows = encode(list(zip(greedy.prompts(states), best)), greedy.tokenizer, 256)
    with torch.no_grad():
        logp = _logps(greedy.model, rows, greedy.tokenizer.pad_token_id, 16).mean().item()
    return sum(a == b for a, b in zip(chosen, best)) / len(best), logp


def test_pairs_ranked_by_a_scorer_that_prefers_the_oracle_move_the_policy_to_the_oracle(policy_dir, tmp_path):
    states, best = _states(24)
    calls = []

    def oracle_scorer(env_id, nodes, candidates):
        calls.append(len(nodes))
        return [[float(a == best[i]) for a in cands] for i, cands in enumerate(candidates)], 0

    before = _agreement(policy_dir, states, best)
    metrics = dpo_update(policy_dir, tmp_path / "new", states, oracle_scorer,
                         UpdateSettings(lr=3e-3, epochs=10, batch_size=8, beta=0.5, m=6, seed=1))
    after = _agreement(tmp_path / "new", states, best)
    assert calls == [24] and metrics["pairs"] >= 8
    assert metrics["final_loss"] < metrics["first_loss"]
    # greedy (admissible) decoding agrees with the oracle more often (0.0 -> 0.54 when written).
    # DPO raises the chosen reply relative to the rejected one, not its absolute log-probability
    # over the whole vocabulary, so that is not what is checked.
    assert after[0] >= before[0] + 0.25
    # the scorer decides: preferring the opposite lowers the oracle's reply
    anti = dpo_update(policy_dir, tmp_path / "anti", states,
                      lambda e, n, c: ([[-float(a == best[i]) for a in cands] for i, cands in enumerate(c)], 0),
                      UpdateSettings(lr=3e-3, epochs=10, batch_size=8, beta=0.5, m=6, seed=1))
    assert anti["pairs"] == metrics["pairs"]
    assert _agreement(tmp_path / "anti", states, best)[0] <= before[0]


def test_dpo_under_torchrun_equals_the_one_process_update(policy_dir, tmp_path):
    """--dpo-procs 2 (torchrun, gloo on CPU; each rank half of every batch, DDP averaging gradients) makes
    the update one process makes from the same pairs: equal losses and weights up to float summation
    order, a thousand times closer to each other than to the starting policy."""
    import torch
    from safetensors.torch import load_file

    states, best = _states(12)

    def scorer(env_id, nodes, candidates):
        return [[float(a == best[i]) for a in cands] for i, cands in enumerate(candidates)], 0

    settings = UpdateSettings(lr=3e-3, epochs=2, batch_size=8, beta=0.5, m=6, seed=1)
    one = dpo_update(policy_dir, tmp_path / "one", states, scorer, settings)
    two = dpo_update(policy_dir, tmp_path / "two", states, scorer, replace(settings, procs=2))
    assert one["pairs"] == two["pairs"] >= 8 and one["optimizer_steps"] == two["optimizer_steps"]
    assert two["train_tokens"] >= one["train_tokens"]  # (+ a pair read at weight 0 where a rank had none)
    assert two["first_loss"] == pytest.approx(one["first_loss"], abs=1e-5)
    assert two["final_loss"] == pytest.approx(one["final_loss"], abs=1e-3)
    w0, w1, w2 = (load_file(str(d / "model.safetensors")) for d in (policy_dir, tmp_path / "one", tmp_path / "two"))
    moved = max(float((w1[k] - w0[k]).abs().max()) for k in w0)
    apart = max(float((w1[k] - w2[k]).abs().max()) for k in w0)
    assert moved > 1e-3 and apart < 1e-3 * moved, (moved, apart)  # 1.6e-6 vs 0.012 when written
    meta = json.loads((tmp_path / "two" / "agentprm_policy.json").read_text())
    assert meta["improve_update"]["processes"] == 2 and not list(tmp_path.glob("*.dpo-job"))
    assert torch.equal(w0[next(iter(w0))], load_file(str(policy_dir / "model.safetensors"))[next(iter(w0))])


def _tiny(out, policy, reward="agentprm", iterations=2):
    return ImproveConfig(env="babyai", reward=reward, iterations=iterations, out=str(out), policy=str(policy),
                         tasks=2, samples=2, states=6, m=2, epochs=1, batch_size=4, rm_iterations=1, test_tasks=2)


def test_a_killed_run_resumes_without_redoing_finished_stages(policy_dir, tmp_path, monkeypatch):
    real, calls = loop.dpo_update, []

    def dies_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the process is killed during iteration 1's update
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "dpo_update", dies_once)
    cfg = _tiny(tmp_path / "run", policy_dir)
    with pytest.raises(KeyboardInterrupt):
        improve(cfg, progress=False)
    records = (tmp_path / "run" / "improve.jsonl").read_text().splitlines()
    assert [json.loads(r)["iteration"] for r in records] == [0]
    rollouts = (tmp_path / "run" / "iter-1" / "rollouts" / "trajectories.jsonl").read_text()
    rm_meta = (tmp_path / "run" / "iter-1" / "rm" / "reward_model.json").read_text()
    out = improve(cfg, progress=False)
    assert [r["iteration"] for r in out] == [0, 1, 2]
    assert (tmp_path / "run" / "iter-1" / "rollouts" / "trajectories.jsonl").read_text() == rollouts
    assert (tmp_path / "run" / "iter-1" / "rm" / "reward_model.json").read_text() == rm_meta
    # the same config uninterrupted gives the same policies, byte for byte
    monkeypatch.setattr(loop, "dpo_update", real)
    fresh = improve(_tiny(tmp_path / "fresh", policy_dir), progress=False)
    assert [r["weights_sha256"] for r in fresh] == [r["weights_sha256"] for r in out]
    # finished: running again changes nothing
    assert improve(cfg, progress=False) == out
    assert len((tmp_path / "run" / "improve.jsonl").read_text().splitlines()) == 3


def test_records_carry_test_success_and_compute(policy_dir, tmp_path):
    out = improve(_tiny(tmp_path / "run", policy_dir, reward="outcome", iterations=1), progress=False)
    first, last = out
    assert first["iteration"] == 0 and first["compute"] == {}
    assert last["test"]["task_ids"] == first["test"]["task_ids"] == [0, 1]
    assert 0.0 <= last["test"]["success"] <= 1.0 and len(last["test"]["won"]) == 2
    # BabyAI is scored by its mean reward, as in the paper
    assert last["test"]["metric"] == "reward" and last["test"]["values"] == last["test"]["rewards"]
    c = last["compute"]
    assert c["env_steps"] > 0 and c["policy_tokens_out"] > 0 and c["rm_tokens"] == 0
    assert c["update"]["examples"] >= 0 and last["config"]["reward"] == "outcome"
    assert (tmp_path / "run" / "iter-1" / "policy" / "model.safetensors").is_file()


def test_another_config_in_the_same_dir_and_unknown_rewards_are_refused(policy_dir, tmp_path):
    improve(_tiny(tmp_path / "run", policy_dir, reward="outcome", iterations=1), progress=False)
    with pytest.raises(UserError, match="another config"):
        improve(_tiny(tmp_path / "run", policy_dir, reward="outcome", iterations=2), progress=False)
    with pytest.raises(UserError, match="unknown --reward"):
        improve(_tiny(tmp_path / "x", policy_dir, reward="best"), progress=False)


def test_cli_improve_prints_the_iterations(policy_dir, tmp_path, capsys):
    from agentprm_bench.cli import main

    args = ["improve", "--env", "babyai", "--reward", "outcome", "--iterations", "1", "--policy", str(policy_dir),
            "--tasks", "1", "--samples", "2", "--test-tasks", "2", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "test success" in printed and f"records in {tmp_path / 'run'}/improve.jsonl" in printed
    assert main(args[:4] + ["nonsense"] + args[5:]) == 2  # an unknown reward: one-line error
    assert "unknown --reward 'nonsense'" in capsys.readouterr().err
