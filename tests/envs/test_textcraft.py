"""TextCraft rules, commands and planner."""

from __future__ import annotations

from collections import Counter

from agentprm_bench.envs.textcraft import TextCraftEnv, plan_commands, task_items
from agentprm_bench.envs.textcraft_recipes import load_rules


def test_rules_match_textcraft_counts():
    rules = load_rules()
    assert len(rules.recipes) == 544 and len(rules.base_items) == 132
    assert Counter(rules.depth(i) for i in rules.recipes) == {1: 125, 2: 291, 3: 117, 4: 11}


def test_block_uncrafting_is_dropped_and_tags_resolve():
    rules = load_rules()
    assert all(not (len(r.inputs) == 1 and r.inputs[0].name == "iron_block") for r in rules.recipes["iron_ingot"])
    assert "oak_planks" in rules.tag_members("planks")
    table = rules.recipes["crafting_table"][0]
    assert table.inputs[0].is_tag and table.text == "craft 1 crafting table using 4 planks"


def test_tasks_are_sorted_by_depth_and_fit_the_turn_limit():
    rules = load_rules()
    items = task_items()
    depths = [rules.depth(i) for i in items]
    assert depths == sorted(depths) and set(depths) == {1, 2, 3, 4}
    assert all(len(plan_commands(rules, i, {})) <= 20 for i in items)


def start(goal: str) -> TextCraftEnv:
    env = TextCraftEnv(max_turns=30)
    env.reset(options={"task_id": task_items().index(goal)})
    return env


def test_crafting_with_a_tag_named_by_a_concrete_item():
    env = start("crafting_table")
    assert "Goal: craft crafting table." in env._last_obs
    # planks need the "oak_logs" tag, which no recipe produces: TextCraft makes it a base item
    obs, *_ = env.step("get 1 oak log")
    assert obs == "Got 1 oak log"
    obs, *_ = env.step("craft 4 oak planks using 1 oak log")
    assert "valid recipe" in obs
    obs, *_ = env.step("get 1 oak logs")
    assert obs == "Got 1 oak logs"
    obs, *_ = env.step("craft 4 oak planks using 1 oak logs")
    assert obs == "Crafted 4 oak planks"
    obs, *_ = env.step("inventory")
    assert obs == "Inventory: [oak log] (1) [oak planks] (4)"
    obs, reward, terminated, _, info = env.step("craft 1 crafting table using 4 oak planks")
    assert reward == 1.0 and terminated and info["won"]


def test_failed_commands_explain_and_change_nothing():
    env = start("crafting_table")
    for action, expect in [
        ("get 2 oak planks", "Could not find oak planks: it must be crafted."),
        ("get 1 diamond sword", "Could not find diamond sword"),
        ("craft 1 crafting table using 4 oak planks", "Could not find enough items"),
        ("craft 1 crafting table using four planks", "wrong ingredient format"),
        ("craft 1 unobtainium using 1 oak log", "Could not find a recipe for unobtainium"),
        ("dance", "Nothing happens"),
    ]:
        obs, reward, terminated, _, info = env.step(action)
        assert expect in obs and reward == 0 and not terminated and info["valid_action"] is False
    assert env.inventory == {}
    env.step("get 3 oak logs")
    obs, *_ = env.step("craft 4 oak planks using 2 oak logs")  # counts must be the recipe's
    assert "valid recipe" in obs and env.inventory == {"oak_logs": 3}


def test_planner_uses_inventory_and_batches_gets():
    rules = load_rules()
    plan = plan_commands(rules, "crafting_table", {})
    assert plan[0].startswith("get 1 ") and plan[-1].startswith("craft 1 crafting table using 4 ")
    assert plan_commands(rules, "crafting_table", {"oak_planks": 4}) == ["craft 1 crafting table using 4 oak planks"]


def test_observation_is_fixed_per_task_and_lists_distractors():
    a, b = TextCraftEnv(), TextCraftEnv()
    t = a.splits()["test"][7]
    obs_a, _ = a.reset(seed=1, options={"task_id": t})
    obs_b, _ = b.reset(seed=99, options={"task_id": t})
    assert obs_a == obs_b
    assert obs_a.startswith("Crafting commands:\n") and "\n\nGoal: craft " in obs_a


def test_depth_filter_restricts_drawn_tasks():
    env = TextCraftEnv(split="train", depths=(3, 4))
    for s in range(10):
        env.reset(seed=s)
        assert env.depth in (3, 4)
