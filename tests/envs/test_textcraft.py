"""TextCraft as ADaPT/AgentGym: graph, tasks, parser quirks, planner."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from agentprm_bench.envs.textcraft import TextCraftEnv, plan_commands, task_items
from agentprm_bench.envs.textcraft_recipes import adapt_test_goals, load_rules
from agentprm_bench.errors import UserError


def test_graph_in_adapts_order():
    rules = load_rules()
    assert len(rules.recipes) == 544
    assert Counter(rules.depth(i) for i in rules.recipes) == {1: 147, 2: 274, 3: 112, 4: 11}
    # the three recipe cycles resolved as in ADaPT's published run
    for base in ("minecraft:iron_ingot", "minecraft:gold_ingot", "minecraft:honey_block"):
        assert rules.is_base(base), base
    for crafted in ("minecraft:iron_nugget", "minecraft:gold_nugget", "minecraft:honey_bottle"):
        assert crafted in rules.recipes, crafted
    assert rules.recipes["minecraft:dropper"][0].text == "craft 1 dropper using 1 redstone, 7 cobblestone"
    assert "minecraft:oak_planks" in rules.members("minecraft:planks")
    assert rules.recipes["minecraft:crafting_table"][0].text == "craft 1 crafting table using 4 planks"


def test_tasks_are_adapts_test_goals_then_the_rest():
    goals, items = adapt_test_goals(), task_items()
    assert len(goals) == 200 and len(set(goals)) == 200 and items[:200] == goals
    assert items[0] == "minecraft:polished_granite_stairs" and len(items) == 544
    splits = TextCraftEnv.splits()
    assert splits["test"] == list(range(200)) and splits["train"] == list(range(200, 544))
    rules = load_rules()
    assert all(rules.depth(g) >= 2 for g in goals)


def start(goal: str) -> TextCraftEnv:
    env = TextCraftEnv(max_turns=30)
    env.reset(options={"task_id": task_items().index("minecraft:" + goal)})
    return env


def test_ingots_are_fetched_and_crafting_names_full_ids():
    env = start("hopper_minecart")
    assert env.step("get 4 gold ingot")[0] == "Got 4 gold ingot"
    assert env.step("get 5 iron ingot")[0] == "Got 5 iron ingot"
    obs, reward, terminated, _, _ = env.step("craft 1 minecart using 5 iron ingot")
    assert obs == "Crafted 1 minecraft:minecart" and reward == 0 and not terminated
    assert env.step("inventory")[0] == "Inventory: [gold ingot] (4) [minecart] (1) "


def test_parser_is_the_originals():
    env = start("crafting_table")
    for action, expect in [
        ("get 2 oak planks", "Could not find oak planks"),  # craftable
        ("get 1 Oak Logs", "Could not find Oak Logs"),  # case-sensitive
        ("get 4 planks", "Could not find planks"),  # a tag
        ("Inventory", "Could not execute Inventory"),
        ("craft 1 crafting table using 4 oak planks", "Could not find enough items to craft minecraft:crafting_table"),
        ("craft 1 crafting table using four planks", "Wrong item format: four planks"),
        ("craft using x", "Could not execute craft using x"),
        ("dance", "Could not execute dance"),
    ]:
        obs, reward, terminated, _, info = env.step(action)
        assert obs == expect and reward == 0 and not terminated and info["valid_action"] is False, action
    assert env.inventory == {}
    assert env.step("get 0 oak logs")[0] == "Got 0 oak logs"
    assert env.step("inventory please")[0] == "Inventory: [oak logs] (0) "
    assert env.step("get 3 oak logs")[0] == "Got 3 oak logs"
    obs, *_ = env.step("craft 4 oak planks using 2 oak logs")  # counts must be the recipe's
    assert obs == ("Could not find a valid recipe for ItemTagWithCount(item_tag=ItemTag(tag=None, "
                   "item_id='minecraft:oak_planks'), count=4)")
    assert env.step("craft 4 oak planks using 1 oak logs")[0] == "Crafted 4 minecraft:oak_planks"
    obs, reward, terminated, _, info = env.step("craft 1 crafting table using 4 oak planks")
    assert obs == "Crafted 1 minecraft:crafting_table" and reward == 1.0 and terminated and info["won"]


def test_oracle_solves_every_test_goal_whose_plan_fits_the_turn_limit():
    rules = load_rules()
    env = TextCraftEnv()
    long_plans = []
    for t, goal in enumerate(adapt_test_goals()):
        if len(plan_commands(rules, goal, {})) > env.max_turns:
            long_plans.append(goal)
            continue
        env.reset(options={"task_id": t})
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.oracle_action())
            done = terminated or truncated
        assert info["won"], goal
    assert len(long_plans) == 13 and all(g.endswith("_banner") for g in long_plans), long_plans


def test_long_actions_are_refused_quickly():
    env = start("crafting_table")
    for action in ("craft" + " " * 100_000 + "x", "craft 1 x using " * 7000, "get " + "9" * 100_000):
        t0 = time.perf_counter()
        obs, _, _, _, info = env.step(action)
        assert time.perf_counter() - t0 < 0.05 and not info["valid_action"]
    # within the limit, a long input is still parsed in linear time
    t0 = time.perf_counter()
    env.step("craft" + " " * 500 + "x")
    assert time.perf_counter() - t0 < 0.05


def test_observation_is_fixed_per_task_and_lists_distractors():
    a, b = TextCraftEnv(), TextCraftEnv()
    obs_a, _ = a.reset(seed=1, options={"task_id": 7})
    obs_b, _ = b.reset(seed=99, options={"task_id": 7})
    assert obs_a == obs_b
    assert obs_a.startswith("Crafting commands:\n") and "\n\nGoal: craft " in obs_a
    shown = [line for line in obs_a.split("\n") if line.startswith("craft ")]
    assert len(shown) == len({r.text for r in a.rules.walk(a.goal)}) + min(10, len(a.distractor_candidates))


def test_planner_uses_inventory_and_batches_gets():
    rules = load_rules()
    plan = plan_commands(rules, "minecraft:crafting_table", {})
    assert plan == ["get 1 acacia logs", "craft 4 acacia planks using 1 acacia logs",
                    "craft 1 crafting table using 4 acacia planks"]
    assert plan_commands(rules, "minecraft:crafting_table", {"minecraft:oak_planks": 4}) == [
        "craft 1 crafting table using 4 oak planks"]


def test_depth_filter_restricts_drawn_tasks():
    env = TextCraftEnv(split="test", depths=(3, 4))
    for s in range(10):
        env.reset(seed=s)
        assert env.depth in (3, 4)
    with pytest.raises(UserError, match="train goals have depth 1-2"):
        TextCraftEnv(split="train", depths=(3,)).reset(seed=0)
