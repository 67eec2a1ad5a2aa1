"""TextCraft: craft a Minecraft item from base materials by text commands."""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from agentprm_bench.envs.base import Step, TextEnv, split_ids
from agentprm_bench.envs.textcraft_recipes import CraftingRules, Ingredient, Recipe, item_id, load_rules, readable

MAX_DISTRACTORS = 10
TASK_TURN_BUDGET = 20  # tasks whose shortest command plan exceeds the paper's turn limit are left out
TEST_SIZE = 200
SPLIT_SALT = 20231114

_GET = re.compile(r"^get\s+(\d+)\s+(.+)$", re.IGNORECASE)
_CRAFT = re.compile(r"^craft\s+(?:(\d+)\s+)?(.+?)\s+using\s+(.+)$", re.IGNORECASE)
_COUNT = re.compile(r"^(\d+)\s+(.+)$")


def _best_recipe(rules: CraftingRules, item: str, memo: dict[str, tuple[float, Recipe | None]]) -> tuple[float, Recipe | None]:
    """Cheapest recipe for ``item`` by a command-count estimate (1 per craft, 1 per base get)."""
    if item in memo:
        return memo[item]
    memo[item] = (math.inf, None)
    if item not in rules.recipes:
        memo[item] = (1.0, None)
        return memo[item]
    best: tuple[float, Recipe | None] = (math.inf, None)
    for recipe in rules.recipes[item]:
        cost = 1.0 + sum(_ingredient_cost(rules, ing, memo)[0] for ing in recipe.inputs)
        if cost < best[0]:
            best = (cost, recipe)
    memo[item] = best
    return best


def _ingredient_cost(rules: CraftingRules, ing: Ingredient, memo: dict) -> tuple[float, str]:
    if not ing.is_tag:
        return _best_recipe(rules, ing.name, memo)[0], ing.name
    members = rules.tag_members(ing.name)
    costs = [(_best_recipe(rules, m, memo)[0], m) for m in members]
    return min(costs) if costs else (math.inf, ing.name)


def plan_commands(rules: CraftingRules, goal: str, inventory: dict[str, int]) -> list[str]:
    """A shortest-by-estimate command list that crafts ``goal`` starting from ``inventory``.

    All ``get`` commands come first (one per base item, with the total amount needed),
    then the ``craft`` commands in dependency order.
    """
    memo: dict[str, tuple[float, Recipe | None]] = {}
    inv = dict(inventory)
    gets: dict[str, int] = {}
    crafts: list[str] = []

    def _pick_member(ing: Ingredient, amount: int) -> str:
        """A tag ingredient is filled by a member already held in quantity, else the cheapest."""
        if ing.is_tag:
            held = [m for m in sorted(inv) if inv[m] >= amount and rules.satisfies(m, ing)]
            if held:
                return held[0]
        return _ingredient_cost(rules, ing, memo)[1]

    def acquire(item: str, n: int) -> None:
        have = inv.get(item, 0)
        if have >= n:
            return
        need = n - have
        recipe = _best_recipe(rules, item, memo)[1]
        if recipe is None:
            gets[item] = gets.get(item, 0) + need
            inv[item] = inv.get(item, 0) + need
            return
        times = math.ceil(need / recipe.count)
        chosen = [(_pick_member(ing, ing.count * times), ing.count) for ing in recipe.inputs]
        for name, count in chosen:
            acquire(name, count * times)
        for _ in range(times):
            for name, count in chosen:
                inv[name] -= count
            inv[item] = inv.get(item, 0) + recipe.count
            used = ", ".join(f"{count} {readable(name)}" for name, count in chosen)
            crafts.append(f"craft {recipe.count} {readable(item)} using {used}")

    acquire(goal, inventory.get(goal, 0) + 1)
    return [f"get {n} {readable(b)}" for b, n in gets.items()] + crafts


@lru_cache(maxsize=1)
def task_items() -> tuple[str, ...]:
    """Goal items, ordered by (crafting depth, name); a task id indexes this tuple."""
    rules = load_rules()
    items = [i for i in rules.recipes if len(plan_commands(rules, i, {})) <= TASK_TURN_BUDGET]
    return tuple(sorted(items, key=lambda i: (rules.depth(i), i)))


class TextCraftEnv(TextEnv):
    """Craft a target Minecraft item from base materials using text commands.

    ## Description
    The real Minecraft 1.16 crafting recipes under TextCraft's rules (see
    ``textcraft_recipes``). Each task is one craftable goal item; tasks are ordered by
    minimum crafting depth (1-4) and cover every item whose shortest plan fits in 20
    commands (the paper's turn limit). ``info`` reports the goal's depth.

    ## Observation
    At reset: "Crafting commands:" with every recipe of the goal's crafting tree plus up
    to 10 distractor recipes that share an ingredient with it, shuffled (fixed per task),
    then "Goal: craft X.". After each action: its result ("Got 2 oak log", "Crafted 4 oak
    planks", "Inventory: [stick] (4)", or why it failed).

    ## Actions
    ``get N <base item>`` (base items only, any amount); ``craft N <item> using n1 a, n2 b``
    with the recipe's exact ingredient counts, naming a concrete item for a tag ingredient
    (e.g. "oak planks" for "planks"); ``inventory``. ``info["admissible_actions"]`` lists
    a ``get`` for each base item of the tree (with its recipe count), a ``craft`` for each
    displayed recipe (a tag named by the member held, else its first member), and ``inventory``.

    ## Rewards
    1.0 when the goal item is crafted, else 0.

    ## Episode end
    Terminated when the goal is crafted; truncated after ``max_turns`` actions (default 20).

    ## Arguments
    ``max_turns`` (int, default 20), ``split`` ("train" | "test", for tasks drawn when no
    ``task_id`` is given), ``depths`` (optional tuple restricting drawn tasks by depth),
    ``render_mode`` ("ansi").
    """

    observation_max_length = 8192
    default_max_turns = 20

    def __init__(self, *, max_turns: int | None = None, split: str = "test", render_mode: str | None = None,
                 depths: Sequence[int] | None = None):
        super().__init__(max_turns=max_turns, split=split, render_mode=render_mode, depths=depths)
        self.rules = load_rules()
        self.depths = tuple(depths) if depths is not None else None
        self.goal = ""
        self.inventory: dict[str, int] = {}
        self._won = False
        self._tree_bases: list[tuple[int, str]] = []
        self._shown: list[Recipe] = []

    # ----- tasks -------------------------------------------------------------------------
    @classmethod
    def num_tasks(cls) -> int:
        return len(task_items())

    @classmethod
    def splits(cls) -> dict[str, Sequence[int]]:
        return _splits()

    def _draw_pool(self) -> Sequence[int]:
        ids = self.splits()[self.split]
        if self.depths is None:
            return ids
        items = task_items()
        return [i for i in ids if self.rules.depth(items[i]) in self.depths]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        options = dict(options or {})
        if options.get("task_id") is None and self.depths is not None:
            super(TextEnv, self).reset(seed=seed)
            pool = self._draw_pool()
            options["task_id"] = int(pool[int(self.np_random.integers(len(pool)))])
            seed = None
        return super().reset(seed=seed, options=options)

    def _reset_task(self, task_id: int) -> str:
        self.goal = task_items()[task_id]
        self.inventory = {}
        self._won = False
        tree = self.rules.recipe_tree(self.goal)
        rng = np.random.Generator(np.random.PCG64(SPLIT_SALT + task_id))
        candidates: dict[Recipe, None] = {}
        for recipe in tree:
            for ing in recipe.inputs:
                uses = self.rules.uses(ing.name)
                picks = rng.permutation(len(uses))[:MAX_DISTRACTORS] if uses else []
                for k in picks:
                    candidates.setdefault(uses[int(k)], None)
        distractors = [r for r in candidates if r not in set(tree)]
        picks = rng.permutation(len(distractors))[:MAX_DISTRACTORS]
        shown = tree + [distractors[int(k)] for k in picks]
        order = rng.permutation(len(shown))
        self._shown = [shown[int(k)] for k in order]
        bases = {}
        for recipe in tree:
            for ing in recipe.inputs:
                if ing.name in self.rules.base_items:
                    bases[ing.name] = max(bases.get(ing.name, 0), ing.count)
        self._tree_bases = sorted((n, b) for b, n in bases.items())
        lines = "\n".join(r.text for r in self._shown)
        return f"Crafting commands:\n{lines}\n\nGoal: craft {readable(self.goal)}."

    @property
    def depth(self) -> int:
        return self.rules.depth(self.goal)

    # ----- dynamics ----------------------------------------------------------------------
    def _act(self, action: str) -> Step:
        text = action.strip()
        low = text.lower()
        if low == "inventory":
            return Step(self._inventory_text())
        m = _GET.match(text)
        if m:
            return self._get(int(m.group(1)), item_id(m.group(2)))
        m = _CRAFT.match(text)
        if m:
            return self._craft(item_id(m.group(2)), m.group(3))
        return Step(f"Nothing happens: '{self.echo(text)}' is not a command. Use 'get N item', "
                    "'craft N item using n1 item1, n2 item2' or 'inventory'.", valid=False)

    def _inventory_text(self) -> str:
        if not self.inventory:
            return "Inventory: You are not carrying anything."
        return "Inventory: " + " ".join(f"[{readable(i)}] ({n})" for i, n in self.inventory.items())

    def _get(self, n: int, item: str) -> Step:
        if n <= 0:
            return Step(f"Could not get {n} {readable(item)}: the amount must be positive.", valid=False)
        if item not in self.rules.base_items:
            why = "it must be crafted" if self.rules.is_craftable(item) else "it is not a base item"
            return Step(f"Could not find {readable(item)}: {why}.", valid=False)
        self.inventory[item] = self.inventory.get(item, 0) + n
        return Step(f"Got {n} {readable(item)}")

    def _craft(self, output: str, ingredients_text: str) -> Step:
        given: list[tuple[str, int]] = []
        for part in ingredients_text.split(","):
            m = _COUNT.match(part.strip())
            if not m:
                return Step(f"Could not craft: wrong ingredient format '{self.echo(part.strip())}' "
                            "(expected 'N item').", valid=False)
            given.append((item_id(m.group(2)), int(m.group(1))))
        if output not in self.rules.recipes:
            return Step(f"Could not find a recipe for {self.echo(readable(output))}.", valid=False)
        if any(self.inventory.get(name, 0) < n for name, n in given):
            return Step(f"Could not find enough items to craft {readable(output)}.", valid=False)
        recipe = self.rules.match(output, given)
        if recipe is None:
            return Step(f"Could not find a valid recipe for {readable(output)} with those ingredients.", valid=False)
        for name, n in given:
            self.inventory[name] -= n
            if self.inventory[name] == 0:
                del self.inventory[name]
        self.inventory[output] = self.inventory.get(output, 0) + recipe.count
        if output == self.goal:
            self._won = True
            return Step(f"Crafted {recipe.count} {readable(output)}", reward=1.0, terminated=True)
        return Step(f"Crafted {recipe.count} {readable(output)}")

    # ----- helpers -----------------------------------------------------------------------
    @property
    def won(self) -> bool:
        return self._won

    def _concrete(self, ing: Ingredient) -> str:
        """The item to name for an ingredient: itself, or for a tag the member held (else the first)."""
        if not ing.is_tag:
            return ing.name
        held = [i for i in self.inventory if self.rules.satisfies(i, ing)]
        members = self.rules.tag_members(ing.name)
        return held[0] if held else (members[0] if members else ing.name)

    def oracle_action(self) -> str:
        return plan_commands(self.rules, self.goal, self.inventory)[0]

    def admissible_actions(self) -> list[str]:
        actions = [f"get {n} {readable(b)}" for n, b in self._tree_bases]
        for recipe in self._shown:
            used = ", ".join(f"{ing.count} {readable(self._concrete(ing))}" for ing in recipe.inputs)
            actions.append(f"craft {recipe.count} {readable(recipe.output)} using {used}")
        actions.append("inventory")
        return list(dict.fromkeys(actions))


@lru_cache(maxsize=1)
def _splits() -> dict[str, list[int]]:
    return split_ids(len(task_items()), TEST_SIZE, SPLIT_SALT)
