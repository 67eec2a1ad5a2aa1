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


def _walks(tasks: list[int], steps: int) -> list[str]:
    """Observations of seeded random walks over the whole menu (pick-ups, drops, toggles included),
    each task walked twice so the second walk revisits states; a pickled copy replays the first."""
    import pickle

    import numpy as np

    env, out = BabyAIEnv(max_turns=steps), []
    for task in tasks:
        for walk in range(2):
            rng = np.random.default_rng(task)
            obs, info = env.reset(options={"task_id": task})
            out.append(obs)
            for _ in range(steps):
                menu = info["admissible_actions"]
                obs, _, terminated, truncated, info = env.step(menu[int(rng.integers(len(menu)))])
                out.append(obs)
                if terminated or truncated:
                    break
            if walk == 0:
                copy = pickle.loads(pickle.dumps(env))  # replays the walk
                out.append(copy.step("turn left")[0])
    return out


def test_remembered_views_equal_views_read_afresh(monkeypatch):
    """The view cache (keyed by the state's content) gives the observations reading every view afresh
    gives, on every level, with grid-changing actions and env copies; and it is actually hit."""
    import agentprm_bench.envs.babyai as babyai

    tasks = list(range(80))  # every level at seeds 0 and 1
    babyai._VIEWS.clear()
    reads = []
    real = babyai.read_view
    monkeypatch.setattr(babyai, "read_view", lambda *a: reads.append(1) or real(*a))
    cached = _walks(tasks, 15)
    steps = len(cached) - 2 * len(tasks)
    assert len(reads) < 0.75 * steps  # revisited states were not read again
    monkeypatch.setattr(babyai.BabyAIEnv, "_read_view", lambda self, obs: real(self.grid_env, obs))
    assert _walks(tasks, 15) == cached


def test_one_search_for_all_goals_equals_one_search_per_goal():
    """find_paths (one breadth-first search for every object the menu asks about) returns, for each
    goal, exactly the server's per-goal search (find_path), on states of random walks over all levels."""
    import numpy as np

    from agentprm_bench.envs import babyai_text as bt

    env, checked = BabyAIEnv(max_turns=8), 0
    for task in range(40):
        rng = np.random.default_rng(task)
        _, info = env.reset(options={"task_id": task})
        for _ in range(8):
            g = env.grid_env
            size, pos = g.agent_view_size, (int(g.agent_pos[0]), int(g.agent_pos[1]))
            fwd, right = np.asarray(g.dir_vec), np.asarray(g.right_vec)
            xr, yr = bt._ranges(np.asarray(pos) + fwd * (size - 1) - right * (size // 2), fwd, right, size)
            cells = [(x, y) for x in xr for y in yr if (x, y) != pos and 0 <= x < g.width and 0 <= y < g.height]
            blocked = {c for c in cells if g.grid.get(*c) is not None and g.grid.get(*c).type != "door"}
            goals = {(c, a) for c in cells for a in (True, False)}
            many = bt.find_paths(pos, int(g.agent_dir), goals, blocked, xr, yr)
            for c, a in goals:
                assert many.get((c, a)) == bt.find_path(pos, int(g.agent_dir), c, blocked, xr, yr, True, a), (task, c, a)
                checked += 1
            menu = info["admissible_actions"]
            _, _, terminated, truncated, info = env.step(menu[int(rng.integers(len(menu)))])
            if terminated or truncated:
                break
    assert checked > 10_000
