"""BabyAI text view, high-level actions and quiet level generation."""

from __future__ import annotations

import re

from agentprm_bench.envs.babyai import LEVELS, BabyAIEnv


def test_tasks_cycle_through_levels_with_fixed_seeds():
    env = BabyAIEnv()
    for t in range(len(LEVELS)):
        obs, info = env.reset(options={"task_id": t})
        assert info["level"] == LEVELS[t] and obs.splitlines()[0] == f"Mission: {info['mission']}"
    again = BabyAIEnv().reset(options={"task_id": 3})[0]
    assert again == BabyAIEnv().reset(seed=5, options={"task_id": 3})[0]


def test_go_to_ends_facing_the_object_and_pick_up_carries_it():
    env = BabyAIEnv()
    task = next(t for t in env.splits()["test"] if LEVELS[t % len(LEVELS)] == "BabyAI-PickupLoc-v0")
    obs, info = env.reset(options={"task_id": task})
    target = next(a for a in info["admissible_actions"] if a.startswith("go to ") and "door" not in a)
    name = target[len("go to "):]
    obs, *_ = env.step(target)
    color, kind, _ = name.split()
    assert re.search(rf"- {color} {kind} \d: 1 step forward\n", obs)
    front = env.grid_env.grid.get(*env.grid_env.front_pos)
    assert (front.color, front.type) == (color, kind)
    if kind != "door":
        obs, *_ = env.step("pick up")
        assert f"You are carrying a {color} {kind}." in obs


def test_unknown_object_and_bad_pickups_are_explained():
    env = BabyAIEnv()
    env.reset(options={"task_id": 0})
    obs, _, _, _, info = env.step("go to purple")
    assert "'go to purple' is not a valid action" in obs and not info["valid_action"]
    obs, _, _, _, info = env.step("go to purple ball 9")
    assert "you do not see a purple ball 9" in obs and not info["valid_action"]
    env.reset(options={"task_id": next(t for t in range(100) if LEVELS[t % len(LEVELS)] == "BabyAI-OpenDoor-v0")})
    door = next(a for a in env.admissible_actions() if a.startswith("go to") and "door" in a)[len("go to "):]
    obs, _, _, _, info = env.step(f"pick up {door}")
    assert "a door cannot be picked up" in obs and not info["valid_action"]


def test_reward_is_minigrids():
    env = BabyAIEnv()
    obs, info = env.reset(options={"task_id": 0})
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(env.oracle_action())
        total += reward
        done = terminated or truncated
    steps, max_steps = env.grid_env.step_count, env.grid_env.max_steps
    assert info["won"] and abs(total - (1 - 0.9 * steps / max_steps)) < 1e-9


def test_level_generation_prints_nothing(capfd):
    env = BabyAIEnv()
    for t in range(60):  # PutNext and Unlock levels reject samples while generating
        env.reset(options={"task_id": t})
        env.step(env.oracle_action())
    captured = capfd.readouterr()
    assert captured.out == "" and "Sampling rejected" not in captured.err
