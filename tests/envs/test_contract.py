"""Contract tests, parametrized over every registered environment."""

from __future__ import annotations

import hashlib
import json
import pickle
import time
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from agentprm_bench.envs import ENVS, resolve_env
from agentprm_bench.envs.check import oracle_chooser, play_episode, random_chooser, summarize
from agentprm_bench.errors import UserError

ENV_IDS = list(ENVS)


def make(env_id: str, **kwargs):
    return gym.make(env_id, **kwargs).unwrapped


def random_rollout(env, seed: int, task_id: int, max_steps: int = 50):
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    trace = [(obs, json.dumps(info, sort_keys=True))]
    for _ in range(max_steps):
        actions = info["admissible_actions"]
        obs, reward, terminated, truncated, info = env.step(actions[int(rng.integers(len(actions)))])
        trace.append((obs, reward, terminated, truncated, json.dumps(info, sort_keys=True)))
        if terminated or truncated:
            break
    return trace


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker_passes_with_warnings_as_errors(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(make(env_id))
        check_env(make(env_id, render_mode="ansi"))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_and_actions_give_identical_rollouts(env_id):
    test_ids = make(env_id).splits()["test"]
    for k, task_id in enumerate(test_ids[:5]):
        assert random_rollout(make(env_id), k, task_id) == random_rollout(make(env_id), k, task_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reset_without_task_id_draws_from_split_by_seed(env_id):
    a, b = make(env_id, split="train"), make(env_id, split="train")
    drawn = [a.reset(seed=s)[1]["task_id"] for s in range(6)]
    assert drawn == [b.reset(seed=s)[1]["task_id"] for s in range(6)]
    assert set(drawn) <= set(a.splits()["train"])
    assert len(set(drawn)) > 1


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_pickles_mid_episode_and_continues_identically(env_id):
    env = make(env_id)
    task_id = env.splits()["test"][3]
    obs, info = env.reset(seed=1, options={"task_id": task_id})
    for _ in range(2):
        obs, *_, info = env.step(env.oracle_action())
    clone = pickle.loads(pickle.dumps(env))
    assert clone.render_mode == env.render_mode and clone.task_id == env.task_id and clone.turn == env.turn
    for _ in range(30):
        action = env.oracle_action()
        assert clone.oracle_action() == action
        out_a, out_b = env.step(action), clone.step(action)
        assert out_a[:4] == out_b[:4] and json.dumps(out_a[4], sort_keys=True) == json.dumps(out_b[4], sort_keys=True)
        if out_a[2] or out_a[3]:
            break
    assert env.won and clone.won
    # a fresh, never-reset env pickles too
    assert pickle.loads(pickle.dumps(make(env_id))).task_id is None


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_snapshot_continues_like_a_pickled_copy_and_independently(env_id):
    """``snapshot`` (beam search's copies) gives the future a pickled copy (rebuilt, replayed) gives,
    on random walks from several mid-episode states, and the same oracle action; stepping a snapshot
    leaves its original as it was. Where an env has no snapshot, it is the pickled copy itself."""
    env = make(env_id)
    for task_id in env.splits()["test"][:4]:
        rng = np.random.default_rng(task_id)
        obs, info = env.reset(seed=2, options={"task_id": task_id})
        for depth in range(6):
            if depth % 2:
                env.oracle_action()  # an oracle already consulted (its cached plan) copies like a fresh one
            replayed, clean = pickle.loads(pickle.dumps(env)), pickle.loads(pickle.dumps(env))
            snap, walk, taken = env.snapshot(), np.random.default_rng(depth), []
            if not snap._done:
                assert snap.oracle_action() == replayed.oracle_action()
            for _ in range(8):  # the snapshot walks first ...
                menu = snap.admissible_actions() if not snap._done else ["x"]
                taken.append(menu[int(walk.integers(len(menu)))])
                a, b = snap.step(taken[-1]), replayed.step(taken[-1])
                assert a[:4] == b[:4] and json.dumps(a[4], sort_keys=True) == json.dumps(b[4], sort_keys=True)
                if a[2] or a[3]:
                    break
            original = env.snapshot()  # ... then a copy of the original (its state now) walks the same
            for action in taken:
                a, b = original.step(action), clean.step(action)
                assert a[:4] == b[:4] and json.dumps(a[4], sort_keys=True) == json.dumps(b[4], sort_keys=True)
            actions = info["admissible_actions"]
            obs, _, terminated, truncated, info = env.step(actions[int(rng.integers(len(actions)))])
            if terminated or truncated:
                break


# Oracle success on (up to 200 of) the test tasks, measured (the games are deterministic), with
# the reason where it is below 95% (WebShop 194/200: 6 of the 20 test goals whose own option
# values the original's reward cannot match, see results/env_fidelity.md); TextCraft 187/200, its 13 banners need more than 20 commands;
# BabyAI 65/90, minigrid's bot lifted to AgentGym's menu runs out of 20 turns in multi-room levels
# and cannot open boxes (KeyInBox), see results/env_fidelity.md.
ORACLE_FLOOR = {"agentprm/WebShop-v1": 0.95, "agentprm/BabyAI-v1": 0.72, "agentprm/TextCraft-v1": 0.935}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_oracle_reaches_its_measured_success_and_random_is_far_lower(env_id):
    env = make(env_id)
    ids = list(env.splits()["test"][:200])
    assert len(ids) == min(200, len(env.splits()["test"]))
    oracle = summarize("oracle", [play_episode(env, t, oracle_chooser) for t in ids])
    rand = summarize("random", [play_episode(env, t, random_chooser(0)) for t in ids])
    assert oracle.success_rate >= ORACLE_FLOOR[env_id]
    assert oracle.max_turns <= env.max_turns
    assert rand.success_rate <= 0.5 * oracle.success_rate
    assert rand.mean_reward <= 0.5 * oracle.mean_reward


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("action", ["", "   ", "xyzzy", "craft", "click[", "search[]", "go to purple unicorn 9",
                                    "get -1 stick", "\u00e9\u4e2d\U0001f600 !!", "a" * 600])
def test_malformed_actions_are_ordinary_steps(env_id, action):
    env = make(env_id)
    env.reset(seed=0, options={"task_id": env.splits()["test"][0]})
    obs, reward, terminated, truncated, info = env.step(action)
    assert env.observation_space.contains(obs)
    assert reward == 0.0 and not terminated and not truncated
    assert info["valid_action"] is False
    assert obs.strip()
    assert info["admissible_actions"]  # the episode continues


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_100kb_actions_are_refused_without_effect(env_id):
    """Hostile sizes: refused by the action limit. The 50 ms target is measured by
    benchmarks/hostile_input.py; the bound here (1 s) only catches runaway parsing."""
    env = make(env_id)
    obs0, _ = env.reset(seed=0, options={"task_id": env.splits()["test"][0]})
    for action in ("craft" + " " * 100_000 + "x", "click[" * 17_000 + "]", "search[" + "a " * 50_000 + "]",
                   "go to " + "red ball " * 11_000, "\u00e9\u4e2d" * 50_000):
        t0 = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(action)
        assert time.perf_counter() - t0 < 1.0
        assert info["valid_action"] is False and reward == 0.0 and not terminated and "512" in obs
        assert env.step("\u00e9")[4]["turn"] == info["turn"] + 1  # the episode goes on
        env.reset(seed=0, options={"task_id": env.splits()["test"][0]})


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_observations_stay_inside_the_observation_space(env_id):
    env = make(env_id)
    for k, task_id in enumerate(env.splits()["test"][:20]):
        for obs, *_ in random_rollout(env, k, task_id):
            assert env.observation_space.contains(obs), obs


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_info_fields_and_turn_limit_override(env_id):
    env = make(env_id, max_turns=2)
    obs, info = env.reset(seed=0, options={"task_id": env.splits()["test"][0]})
    assert {"task_id", "admissible_actions", "won", "turn", "valid_action"} <= set(info)
    assert info["turn"] == 0 and info["won"] is False
    assert all(isinstance(a, str) and a for a in info["admissible_actions"])
    _, _, terminated, truncated, info = env.step("not an action")
    assert not (terminated or truncated) and info["turn"] == 1
    _, _, terminated, truncated, info = env.step("not an action")
    assert truncated and not terminated and info["turn"] == 2 and info["admissible_actions"] == []


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_bad_task_id_and_split_raise_clear_errors(env_id):
    env = make(env_id)
    with pytest.raises(UserError, match="out of range"):
        env.reset(options={"task_id": env.num_tasks()})
    with pytest.raises(UserError, match="unknown split"):
        make(env_id, split="validation")


# Pinned digests of the test splits: a change here changes every published number.
SPLIT_DIGESTS = {
    "agentprm/WebShop-v1": "2d0f2158e924e7b2",
    "agentprm/BabyAI-v1": "295b3e5454cad800",
    "agentprm/TextCraft-v1": "050029a81b691389",
}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_splits_are_disjoint_complete_and_pinned(env_id):
    cls = resolve_env(env_id).load_class()
    splits = cls.splits()
    parts = [set(ids) for ids in splits.values()]
    assert {"train", "test"} <= set(splits) and sum(map(len, parts)) == cls.num_tasks()
    assert set().union(*parts) == set(range(cls.num_tasks()))  # disjoint (sizes add up) and complete
    digest = hashlib.sha256(json.dumps(list(splits["test"])).encode()).hexdigest()[:16]
    assert digest == SPLIT_DIGESTS[env_id]


def test_resolve_env_accepts_ids_and_short_names_and_suggests():
    assert resolve_env("webshop").env_id == "agentprm/WebShop-v1"
    assert resolve_env("agentprm/BabyAI-v1").env_id == "agentprm/BabyAI-v1"
    assert resolve_env("TextCraft-v1").env_id == "agentprm/TextCraft-v1"
    with pytest.raises(UserError, match="Did you mean 'textcraft'"):
        resolve_env("textcraf")


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("options", [{"task_id": float("inf")}, {"task_id": [1]}, {"task_id": {}}, 5,
                                     {"task_id": 1.5}, {"task_id": True}, {"task_id": b"1"}, {"task_id": "1"}])
def test_bad_reset_options_raise_a_value_error_naming_the_fix(env_id, options):
    env = make(env_id)
    with pytest.raises(ValueError, match="task_id must be an integer|reset options must be a dict"):
        env.reset(options=options)
    obs, info = env.reset(options={"task_id": np.int64(1)})  # numpy integers are integers
    assert info["task_id"] == 1 and type(info["task_id"]) is int
