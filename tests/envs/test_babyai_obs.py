"""``babyai_obs.observation`` equals minigrid's own ``gen_obs`` (the raw minigrid observation)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from agentprm_bench.envs import babyai
from agentprm_bench.envs.babyai import BabyAIEnv, make_level
from agentprm_bench.envs.babyai_obs import install, observation

LEVELS = sorted({babyai.level_and_seed(t)[0] for t in range(BabyAIEnv.num_tasks())})
# primitive action weights: left, right, forward, pickup, drop, toggle (done never)
WEIGHTS = [0.2, 0.2, 0.3, 0.1, 0.05, 0.15, 0.0]


def _same(a: dict, b: dict) -> bool:
    return (a["image"].dtype == b["image"].dtype and a["image"].shape == b["image"].shape
            and np.array_equal(a["image"], b["image"]) and a["direction"] == b["direction"]
            and a["mission"] == b["mission"])


@pytest.mark.parametrize("name", LEVELS)
def test_observation_equals_minigrid_on_random_walks(name: str) -> None:
    level = make_level(name)
    rng = np.random.default_rng(len(name))
    interacted = 0
    for seed in range(2):
        babyai._quiet(level.reset, seed=seed)
        assert _same(observation(level), level.gen_obs())
        for _ in range(60):
            action = int(rng.choice(7, p=WEIGHTS))
            babyai._quiet(level.step, action)
            assert _same(observation(level), level.gen_obs()), (name, seed, action)
            interacted += action in (3, 4, 5)
    assert interacted > 0


def test_walks_cover_carrying_doors_and_edges() -> None:
    """The comparison above sees what the view is made of: carried objects, open/closed/locked
    doors, the level's edge (a grey wall outside) and unseen cells (the test must be able to fail)."""
    kinds, states, carried, unseen = set(), set(), 0, 0
    for name in LEVELS:
        level = make_level(name)
        rng = np.random.default_rng(0)
        babyai._quiet(level.reset, seed=0)
        for _ in range(60):
            babyai._quiet(level.step, int(rng.choice(7, p=WEIGHTS)))
            image = observation(level)["image"]
            kinds |= set(image[..., 0].ravel().tolist())
            states |= set(image[image[..., 0] == 4][:, 2].tolist())  # door states
            carried += level.carrying is not None
            unseen += int((image[..., 0] == 0).sum())
    assert {0, 1, 2, 4, 5, 6, 7} <= kinds  # unseen, empty, wall, door, key, ball, box
    assert {0, 1, 2} <= states and carried > 50 and unseen > 0


def test_installed_level_steps_like_minigrid_and_copies_keep_it() -> None:
    ref, fast = make_level(LEVELS[5]), install(make_level(LEVELS[5]))
    babyai._quiet(ref.reset, seed=3)
    babyai._quiet(fast.reset, seed=3)
    for action in [2, 1, 2, 2, 3, 0, 2, 5, 2, 4, 1, 2]:
        a, b = babyai._quiet(ref.step, action), babyai._quiet(fast.step, action)
        assert _same(a[0], b[0]) and a[1:4] == b[1:4]
    twin = copy.deepcopy(fast)
    assert twin.gen_obs.__self__ is twin  # the copy observes itself, not the original
    babyai._quiet(twin.step, 1)
    assert twin.agent_dir != fast.agent_dir and _same(fast.gen_obs(), fast.minigrid_gen_obs())
    assert _same(twin.gen_obs(), twin.minigrid_gen_obs())


def test_text_env_uses_the_fast_observation() -> None:
    env = BabyAIEnv()
    env.reset(options={"task_id": 0})
    assert env.grid_env.gen_obs.__func__ is observation
