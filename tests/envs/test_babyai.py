"""BabyAI as AgentGym serves it: tasks, text, menu, rewards, quiet level generation."""

from __future__ import annotations

import hashlib
import json

from agentprm_bench.envs.babyai import LEVELS, TEST_SIZE, BabyAIEnv, level_and_seed


def test_task_ids_map_to_agentgym_levels_and_seeds():
    assert len(LEVELS) == 40 and LEVELS[0] == "BabyAI-GoToRedBallGrey-v0" and LEVELS[39] == "BabyAI-BossLevelNoUnlock-v0"
    assert level_and_seed(41) == ("BabyAI-GoToRedBall-v0", 1) and level_and_seed(85) == ("BabyAI-GoToObjMazeS7-v0", 2)
    env = BabyAIEnv()
    for t in range(40):  # every level reachable by task id
        obs, info = env.reset(options={"task_id": t})
        assert info["level"] == LEVELS[t] and info["minigrid_seed"] == 0
        assert obs.startswith(f"Your goal: {info['mission']}\n") and "\nAvailable actions: [" in obs
    again = BabyAIEnv().reset(options={"task_id": 3})[0]
    assert again == BabyAIEnv().reset(seed=5, options={"task_id": 3})[0]


def test_test_split_is_the_first_90_ids_pinned():
    splits = BabyAIEnv.splits()
    assert splits["test"] == list(range(TEST_SIZE)) and TEST_SIZE == 90
    assert not set(splits["test"]) & set(splits["train"])
    digest = hashlib.sha256(json.dumps([level_and_seed(t) for t in splits["test"]]).encode()).hexdigest()
    assert digest[:16] == "85fcb117463e9bea", digest


def test_goto_objs6_v0_is_the_4x4_room_agentgym_plays():
    env = BabyAIEnv()
    env.reset(options={"task_id": 3})
    assert env.level == "BabyAI-GoToObjS6-v0" and env.grid_env.width == 4


def test_menu_actions_and_errors_read_as_the_server_writes_them():
    env = BabyAIEnv()
    _, info = env.reset(options={"task_id": 5})
    menu = info["admissible_actions"]
    assert menu[:2] == ["turn left", "turn right"] and menu[-1] == "check available actions"
    obs, reward, terminated, _, info = env.step("check the menu")  # anything with "check" lists it
    assert obs.startswith("You can take the following actions: turn left, turn right") and info["valid_action"]
    obs, _, _, _, info = env.step("dance")
    assert obs.startswith("The action is not recognized. Please check valid actions.\nAvailable actions: [")
    assert not info["valid_action"]
    obs, _, _, _, info = env.step("drop")
    assert obs.startswith("You cannot drop the object, as you are not carrying anything.")
    obs, _, _, _, info = env.step("   ")
    assert obs.startswith("No change in state.") and not info["valid_action"]
    obs, *_ = env.step("TURN LEFT")  # lower-cased as the server does
    assert obs.startswith("In front of you") or obs.startswith("You cannot see")


def test_rewards_are_increments_of_the_servers_reward():
    env = BabyAIEnv()
    env.reset(options={"task_id": 0})
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(env.oracle_action())
        total += reward
        done = terminated or truncated
    steps, max_steps = env.grid_env.step_count, env.grid_env.max_steps
    assert info["won"] and abs(total - (1 - 0.9 * steps / max_steps)) < 1e-9
    assert total == info["agentgym_reward"]


def test_oracle_solves_the_simple_levels():
    env = BabyAIEnv()
    for t in (0, 1, 2, 4, 9, 10, 18, 29):
        env.reset(options={"task_id": t})
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.oracle_action())
            done = terminated or truncated
        assert info["won"], (t, LEVELS[t])


def test_level_generation_prints_nothing(capfd):
    env = BabyAIEnv()
    for t in range(60):  # PutNext and Unlock levels reject samples while generating
        env.reset(options={"task_id": t})
        env.step(env.oracle_action())
    captured = capfd.readouterr()
    assert captured.out == "" and "Sampling rejected" not in captured.err
